# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""A small Glance v2 client for streaming image uploads and checking them.

Only the Python standard library is used, so the same code runs inside an
Ansible module on a managed host, in the molecule tests and in the demo. The
upload is written by hand over the socket because no standard-library client
can send a chunked body with chosen chunk sizes or honour
``Expect: 100-continue``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import http.client
import json
import os
import select
import socket
import ssl
import time
from urllib.parse import urlencode, urlsplit


class GlanceError(Exception):
    """An HTTP exchange with Glance did not go as expected."""

    def __init__(self, message, status=None, body=None):
        super(GlanceError, self).__init__(message)
        self.status = status
        self.body = body


class UploadResult:
    """What the client sent and how long it took."""

    def __init__(self, status, size, md5, sha512, seconds, saw_continue, body, headers=None):
        self.headers = headers or {}
        self.status = status
        self.size = size
        self.md5 = md5
        self.sha512 = sha512
        self.seconds = seconds
        self.saw_continue = saw_continue
        self.body = body

    @property
    def mib_per_second(self):
        return self.size / (1024.0 * 1024.0) / self.seconds if self.seconds > 0 else 0.0


def random_blocks(size, block_size=1024 * 1024):
    """Yield ``size`` bytes of random data in blocks of at most ``block_size``."""
    left = size
    while left > 0:
        step = min(block_size, left)
        yield os.urandom(step)
        left -= step


def file_blocks(path, block_size=1024 * 1024):
    """Yield the bytes of the file at ``path`` in blocks."""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(block_size)
            if not block:
                return
            yield block


def _rechunk(blocks, chunk_size):
    """Regroup a stream of byte blocks into pieces of exactly ``chunk_size``
    bytes (the last one may be shorter)."""
    pending = bytearray()
    for block in blocks:
        pending += block
        while len(pending) >= chunk_size:
            yield bytes(pending[:chunk_size])
            del pending[:chunk_size]
    if pending:
        yield bytes(pending)


def _send_chunks(sock, handle, chunk_size):
    """Sends the rest of the open file as HTTP chunks of ``chunk_size``
    bytes, without copying them; returns the bytes of data sent."""
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    total = 0
    while True:
        count = handle.readinto(buf)
        if not count:
            return total
        pieces = [b"%x\r\n" % count, view[:count], b"\r\n"]
        while pieces:
            done = sock.sendmsg(pieces)
            while pieces and done >= len(pieces[0]):
                done -= len(pieces[0])
                pieces.pop(0)
            if pieces and done:
                pieces[0] = memoryview(pieces[0])[done:]
        total += count


class GlanceClient:
    """Talks to one Glance API endpoint, such as ``http://127.0.0.1:9292``."""

    def __init__(self, endpoint, token=None, headers=None, timeout=300.0,
                 validate_certs=True, ca_path=None):
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https"):
            raise ValueError("endpoint must be an http:// or https:// URL: %s" % endpoint)
        if not parts.hostname:
            raise ValueError("endpoint has no host: %s" % endpoint)
        self.scheme = parts.scheme
        self.host = parts.hostname
        try:
            self.port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError("endpoint has an invalid port: %s" % endpoint) from None
        # An IPv6 literal goes in brackets in the Host header.
        self.host_header = "%s:%d" % ("[%s]" % self.host if ":" in self.host else self.host, self.port)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = dict(headers or {})
        if token:
            self.headers["X-Auth-Token"] = token
        self.ssl_context = None
        if self.scheme == "https":
            self.ssl_context = ssl.create_default_context(cafile=ca_path)
            if not validate_certs:
                self.ssl_context.check_hostname = False
                self.ssl_context.verify_mode = ssl.CERT_NONE

    # -- plain requests ----------------------------------------------------

    def _connection(self):
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method, path, body=None, headers=None, expect=(200,)):
        """Send one request and return (status, parsed JSON or raw bytes)."""
        all_headers = dict(self.headers)
        all_headers.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/json")
        conn = self._connection()
        try:
            conn.request(method, self.base_path + path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if response.status not in expect:
            message = data.decode("utf-8", "replace").strip()[:2000]
            raise GlanceError("%s %s answered %d %s: %s" % (method, path, response.status, response.reason, message),
                              status=response.status, body=data)
        if data and response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(data.decode("utf-8"))
        return response.status, data

    def versions(self):
        return self.request("GET", "/", expect=(200, 300))[1]

    def create_image(self, name, disk_format="raw", container_format="bare", extra=None):
        body = {"name": name, "disk_format": disk_format, "container_format": container_format}
        body.update(extra or {})
        return self.request("POST", "/v2/images", body=body, expect=(201,))[1]

    def get_image(self, image_id):
        return self.request("GET", "/v2/images/%s" % image_id)[1]

    def list_images(self, status=None, page_size=200, visibility="all"):
        """Every image the caller may see (optionally of one status),
        following Glance's pagination. ``visibility="all"`` (the default)
        includes community images and, for an admin, every project's images,
        which a plain ``GET /v2/images`` leaves out."""
        images, marker = [], None
        while True:
            query = {"limit": page_size}
            if visibility:
                query["visibility"] = visibility
            if status:
                query["status"] = status
            if marker:
                query["marker"] = marker
            page = self.request("GET", "/v2/images?" + urlencode(query))[1]
            images.extend(page.get("images", []))
            if "next" not in page or not page.get("images"):
                return images
            marker = page["images"][-1]["id"]

    def import_image(self, image_id, method, uri=None, stores=None, all_stores_must_succeed=True):
        """POST /v2/images/{id}/import; Glance answers 202 and runs a task."""
        body = {"method": {"name": method}}
        if uri:
            body["method"]["uri"] = uri
        if stores:
            body["stores"] = list(stores)
            body["all_stores_must_succeed"] = all_stores_must_succeed
        return self.request("POST", "/v2/images/%s/import" % image_id, body=body, expect=(202,))[1]

    def delete_image(self, image_id):
        self.request("DELETE", "/v2/images/%s" % image_id, expect=(204,))

    def wait_for_status(self, image_id, wanted="active", timeout=120.0, interval=0.5):
        """Poll until the image reaches ``wanted``; fail early on killed/deleted."""
        deadline = time.time() + timeout
        while True:
            image = self.get_image(image_id)
            if image.get("status") == wanted:
                return image
            if image.get("status") in ("killed", "deleted", "deactivated"):
                raise GlanceError("image %s went to status %s while waiting for %s"
                                  % (image_id, image["status"], wanted))
            if time.time() > deadline:
                raise GlanceError("image %s still %s after %.0f s, wanted %s"
                                  % (image_id, image.get("status"), timeout, wanted))
            time.sleep(interval)

    def download(self, image_id, block_size=1024 * 1024):
        """Stream the image data back; return (size, md5, sha512)."""
        conn = self._connection()
        md5, sha512, size = hashlib.md5(), hashlib.sha512(), 0
        try:
            conn.request("GET", self.base_path + "/v2/images/%s/file" % image_id, headers=self.headers)
            response = conn.getresponse()
            if response.status != 200:
                raise GlanceError("GET image data answered %d: %s"
                                  % (response.status, response.read().decode("utf-8", "replace")[:2000]),
                                  status=response.status)
            while True:
                block = response.read(block_size)
                if not block:
                    break
                size += len(block)
                md5.update(block)
                sha512.update(block)
        finally:
            conn.close()
        return size, md5.hexdigest(), sha512.hexdigest()

    # -- streaming upload --------------------------------------------------

    def _open_socket(self):
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        return sock

    def upload(self, image_id, blocks, transfer="chunked", size=None, chunk_size=65536,
               expect_continue=False, continue_timeout=10.0, progress=None, rate_limit=None,
               pause=None, target="file"):
        """PUT the image data from the iterable ``blocks``.

        ``transfer`` is ``chunked`` (Transfer-Encoding: chunked, one chunk per
        ``chunk_size`` bytes) or ``content_length`` (needs ``size``). With
        ``expect_continue`` the request carries ``Expect: 100-continue`` and the
        body follows the server's 100 answer, or ``continue_timeout`` seconds of
        silence, as RFC 9110 allows. ``progress(sent_bytes)`` is called as data goes out.
        ``rate_limit`` (bytes per second) slows the sender down, to keep an
        upload in flight while something else happens. ``pause`` is
        ``(after_bytes, seconds)``: the sender goes silent once, for that long,
        after that many bytes (a client that stalls mid-upload). ``target``
        is ``file`` (the image data) or ``stage`` (interoperable import's
        staging area, which glance-direct then imports).
        """
        if transfer not in ("chunked", "content_length"):
            raise ValueError("transfer must be chunked or content_length")
        if transfer == "content_length" and size is None:
            raise ValueError("a content_length upload needs the size")
        if target not in ("file", "stage"):
            raise ValueError("target must be file or stage")
        path = self.base_path + "/v2/images/%s/%s" % (image_id, target)
        lines = ["PUT %s HTTP/1.1" % path, "Host: %s" % self.host_header,
                 "Content-Type: application/octet-stream", "Connection: close"]
        lines += ["%s: %s" % item for item in self.headers.items()]
        if transfer == "chunked":
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append("Content-Length: %d" % size)
        if expect_continue:
            lines.append("Expect: 100-continue")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        md5, sha512, sent = hashlib.md5(), hashlib.sha512(), 0
        saw_continue = False
        sock = self._open_socket()
        started = time.time()
        try:
            sock.sendall(head)
            if expect_continue:
                early = self._await_continue(sock, continue_timeout)
                if early is not None and early.status != 100:
                    return early
                saw_continue = early is not None
            pieces = _rechunk(blocks, chunk_size) if transfer == "chunked" else blocks
            try:
                for piece in pieces:
                    md5.update(piece)
                    sha512.update(piece)
                    if transfer == "chunked":
                        sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    else:
                        sock.sendall(piece)
                    sent += len(piece)
                    if pause and sent >= pause[0] > sent - len(piece):
                        time.sleep(pause[1])
                    if rate_limit:
                        ahead = sent / float(rate_limit) - (time.time() - started)
                        if ahead > 0:
                            time.sleep(ahead)
                    if progress is not None:
                        progress(sent)
                if transfer == "chunked":
                    sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError) as send_error:
                # The server answered and closed before taking the whole body
                # (a 411 or 413 refusal): its answer is the result, if it can
                # still be read.
                try:
                    return self._finish(sock, md5, sha512, sent, started, saw_continue)
                except (OSError, http.client.HTTPException):
                    raise send_error from None
            if transfer == "content_length" and sent != size:
                raise ValueError("declared %d bytes but the data had %d" % (size, sent))
            return self._finish(sock, md5, sha512, sent, started, saw_continue)
        finally:
            sock.close()

    def upload_file(self, image_id, path, transfer="chunked", repeat=1, chunk_size=65536, target="file"):
        """PUT the bytes of the file at ``path`` (``repeat`` times over)
        without hashing them on the way: the benchmark's sender, which must
        leave the CPU to the server it measures. A Content-Length body goes
        out with sendfile; a chunked one as one chunk per ``chunk_size``
        bytes, with sendmsg from a reused buffer. Returns an UploadResult
        without checksums, whose ``seconds`` run from the first body byte to
        the end of the answer."""
        if transfer not in ("chunked", "content_length"):
            raise ValueError("transfer must be chunked or content_length")
        if target not in ("file", "stage"):
            raise ValueError("target must be file or stage")
        size = os.path.getsize(path) * repeat
        lines = ["PUT %s/v2/images/%s/%s HTTP/1.1" % (self.base_path, image_id, target), "Host: %s" % self.host_header,
                 "Content-Type: application/octet-stream", "Connection: close"]
        lines += ["%s: %s" % item for item in self.headers.items()]
        lines.append("Transfer-Encoding: chunked" if transfer == "chunked" else "Content-Length: %d" % size)
        sock = self._open_socket()
        sent = 0
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            started = time.time()
            try:
                for _count in range(repeat):
                    with open(path, "rb") as handle:
                        if transfer == "chunked":
                            sent += _send_chunks(sock, handle, chunk_size)
                        else:
                            sent += sock.sendfile(handle)
                if transfer == "chunked":
                    sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                # A refusal before the whole body was taken: its answer, if
                # it can still be read, is the result.
                pass
            response = http.client.HTTPResponse(sock)
            response.begin()
            body = response.read()
            return UploadResult(response.status, sent, None, None, time.time() - started, False,
                                body.decode("utf-8", "replace"))
        finally:
            sock.close()

    def _await_continue(self, sock, timeout):
        """Wait up to ``timeout`` seconds for the server's answer to the
        request head. Return None on silence, an UploadResult with status 100
        after reading the interim answer, or the UploadResult of a final
        answer the server sent without waiting for the body (a refusal)."""
        started = time.time()
        readable = select.select([sock], [], [], timeout)[0]
        if not readable:
            return None
        data = b""
        while b"\r\n\r\n" not in data:
            block = sock.recv(65536)
            if not block:
                break
            data += block
        head, _separator, rest = data.partition(b"\r\n\r\n")
        words = head.split(None, 2)
        status = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
        if status != 100:
            # The server closes the connection after a refusal: read it all.
            while True:
                block = sock.recv(65536)
                if not block:
                    break
                rest += block
        return UploadResult(status, 0, None, None, time.time() - started, status == 100,
                            rest.decode("utf-8", "replace"))

    def _finish(self, sock, md5, sha512, sent, started, saw_continue):
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        seconds = time.time() - started
        return UploadResult(response.status, sent, md5.hexdigest(), sha512.hexdigest(),
                            seconds, saw_continue, body.decode("utf-8", "replace"),
                            headers=dict((name.lower(), value) for name, value in response.getheaders()))
