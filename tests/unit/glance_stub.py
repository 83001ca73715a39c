"""A stand-in Glance for unit tests: the few image API calls the upload client
and the image_upload module make, over real HTTP on 127.0.0.1, with switches
for the failures they must report. It decodes chunked bodies itself and
records what it saw (chunk sizes, Expect headers)."""

import hashlib
import json
import socket
import threading
import time
import uuid
from urllib.parse import parse_qs
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubGlance(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.images = {}
        self.data = {}
        self.chunk_sizes = []
        self.expect_headers = []
        self.refuse_chunked = False      # answer 411 to chunked bodies, before reading them
        self.send_continue = True        # answer "Expect: 100-continue" with 100
        self.corrupt_checksum = False    # store a wrong md5
        # The caller's project and whether it is an admin. A non-admin sees
        # its own, public, shared and community images; GET /v2/tasks is
        # admin-only. A list without visibility=all leaves community images
        # out, as Glance does.
        self.project = "admin-project"
        self.admin = True
        self.require_token = False       # behind "Keystone": 401 without X-Auth-Token
        self.fail_get = set()            # image IDs whose GET answers 500
        self.hidden_from_list = set()    # image IDs GET finds but no list shows
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def handle_expect_100(self):
        self.server.expect_headers.append(self.headers.get("Expect"))
        if self.server.refuse_chunked and "chunked" in self.headers.get("Transfer-Encoding", ""):
            return True  # answer the refusal in do_PUT without reading the body
        if self.server.send_continue:
            return super().handle_expect_100()
        return True

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status, text=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(text)))
        if text:
            self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(text)

    def _linger(self):
        """Close as Apache does after refusing a body: stop writing, then
        read and drop what the client still sends (for up to 2 s), so the
        refusal reaches a client that is still sending instead of being
        destroyed by a connection reset."""
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_WR)
        self.connection.settimeout(2)
        try:
            while self.connection.recv(65536):
                pass
        except OSError:
            pass

    def _list(self, query):
        """GET /v2/images with Glance's status filter and marker pagination
        (pages of ``limit``, a "next" link while more remain)."""
        params = parse_qs(query)
        limit = int(params.get("limit", ["25"])[0])
        visibility = params.get("visibility", [None])[0]
        images = [image for image in self.server.images.values()
                  if ("status" not in params or image["status"] == params["status"][0])
                  and self._visible(image) and image["id"] not in self.server.hidden_from_list
                  and (visibility == "all" or image.get("visibility") != "community")]
        if "marker" in params:
            ids = [image["id"] for image in images]
            images = images[ids.index(params["marker"][0]) + 1:]
        page = {"images": images[:limit]}
        if len(images) > limit:
            page["next"] = "/v2/images?marker=%s" % images[limit - 1]["id"]
        return self._json(200, page)

    def _visible(self, image):
        return (self.server.admin or image.get("owner", self.server.project) == self.server.project
                or image.get("visibility") in ("public", "community", "shared"))

    def do_GET(self):
        if self.server.require_token and not self.headers.get("X-Auth-Token"):
            return self._empty(401, b"Authentication required")
        path, _sep, query = self.path.partition("?")
        if path.rstrip("/") == "/v2/images":
            return self._list(query)
        if path.rstrip("/") == "/v2/tasks":
            if not self.server.admin:
                return self._empty(403, b"You are not authorized to complete get_tasks action.")
            return self._json(200, {"tasks": []})
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[2] in self.server.fail_get:
            return self._empty(500, b"stub failure")
        if parts == [""]:
            return self._json(300, {"versions": [{"id": "v2.15", "status": "CURRENT"}]})
        if len(parts) == 3 and parts[2] in self.server.images and self._visible(self.server.images[parts[2]]):
            return self._json(200, self.server.images[parts[2]])
        if len(parts) == 4 and parts[3] == "file" and parts[2] in self.server.data:
            data = self.server.data[parts[2]]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._empty(404, b"no such image")

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        image_id = str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        image = dict(body, id=image_id, status="queued", size=None, checksum=None,
                     os_hash_algo=None, os_hash_value=None, created_at=stamp, updated_at=stamp)
        self.server.images[image_id] = image
        return self._json(201, image)

    def do_DELETE(self):
        image_id = self.path.strip("/").split("/")[2]
        self.server.images.pop(image_id, None)
        self.server.data.pop(image_id, None)
        return self._empty(204)

    def do_PUT(self):
        image_id = self.path.strip("/").split("/")[2]
        if image_id not in self.server.images:
            return self._empty(404, b"no such image")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "")
        if chunked and self.server.refuse_chunked:
            self.close_connection = True
            self._empty(411, b"Length Required")
            return self._linger()
        data = self._read_chunked() if chunked else self.rfile.read(int(self.headers["Content-Length"]))
        image = self.server.images[image_id]
        md5 = hashlib.md5(data).hexdigest()
        image.update(status="active", size=len(data), os_hash_algo="sha512",
                     checksum="0" * 32 if self.server.corrupt_checksum else md5,
                     os_hash_value=hashlib.sha512(data).hexdigest())
        self.server.data[image_id] = data
        return self._empty(204)

    def _read_chunked(self):
        data = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return bytes(data)
            self.server.chunk_sizes.append(size)
            data += self.rfile.read(size)
            self.rfile.readline()
