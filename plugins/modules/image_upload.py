#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: image_upload
short_description: Upload an image to Glance and prove Glance stored exactly what was sent
description:
  - Creates an image through the Glance v2 API (or uses O(image_id)), uploads a local file or
    generated random data to it, chunked or with a Content-Length, and waits for the image to
    become C(active).
  - Compares the size, the md5 C(checksum) and the C(os_hash_algo)/C(os_hash_value) Glance reports
    with what the module computed while streaming, and optionally downloads the image back and
    compares again. Any mismatch or HTTP error fails the task with a precise message.
  - "Needs only ansible-core and the Python standard library on the host it runs on; it writes the
    HTTP exchange itself so that chunk sizes and C(Expect: 100-continue) are under control, which
    M(ansible.builtin.uri) cannot do."
version_added: 0.1.0
author:
  - httpd_wsgi.glance maintainers (@httpd-wsgi)
options:
  endpoint:
    description: Glance API URL, for example V(http://127.0.0.1:9292) (a path prefix is kept).
    type: str
    required: true
  image_id:
    description: Upload into this existing, C(queued) image instead of creating one.
    type: str
  name:
    description: Name of the image the module creates.
    type: str
    default: httpd-wsgi-glance-upload-check
  disk_format:
    description: Disk format of the image the module creates.
    type: str
    default: raw
  container_format:
    description: Container format of the image the module creates.
    type: str
    default: bare
  src:
    description: File on the managed host to upload. Mutually exclusive with O(size).
    type: path
  size:
    description: Upload this many bytes of random data. Mutually exclusive with O(src). One of them is needed,
      except with O(method=web-download).
    type: int
  transfer:
    description:
      - "V(chunked) sends C(Transfer-Encoding: chunked), one chunk per O(chunk_size) bytes."
      - V(content_length) sends a C(Content-Length) header and the raw body.
    type: str
    choices: [chunked, content_length]
    default: chunked
  chunk_size:
    description: Bytes per chunk in chunked transfer; chunks far larger than 1 MiB are allowed.
    type: int
    default: 65536
  expect_continue:
    description: "Send C(Expect: 100-continue) and wait for the server's C(100) (or O(continue_timeout)) before the body."
    type: bool
    default: false
  continue_timeout:
    description: Seconds to wait for C(100 Continue) before sending the body anyway.
    type: float
    default: 10
  rate_limit:
    description: Send at most this many bytes per second (keeps an upload in flight for tests of reloads and faults).
    type: int
  token:
    description: Keystone token, sent as C(X-Auth-Token). Mutually exclusive with O(auth) and O(cloud).
    type: str
  auth:
    description:
      - Keystone password credentials the module exchanges for a project-scoped token, in the
        C(openstack.cloud) style.
      - Through keystoneauth1 where the host has it (every Glance host does), else with a plain Keystone v3
        password request.
    type: dict
    suboptions:
      auth_url:
        description: Keystone's URL, for example V(https://keystone.example.com:5000/v3).
        type: str
        required: true
      username:
        description: The user's name.
        type: str
        required: true
      password:
        description: The user's password.
        type: str
        required: true
      project_name:
        description: The project the token is scoped to.
        type: str
        required: true
      user_domain_name:
        description: The user's domain.
        type: str
        default: Default
      project_domain_name:
        description: The project's domain.
        type: str
        default: Default
  cloud:
    description:
      - Name of a cloud in C(clouds.yaml) whose credentials the module uses (needs openstacksdk on the host
        it runs on).
    type: str
  method:
    description:
      - V(upload) sends the data to C(/file) (the legacy upload).
      - V(glance-direct) stages the data (C(/stage), with O(transfer)) and then imports it; needs Keystone.
      - V(web-download) asks Glance to fetch O(uri); nothing is sent. The hashes are compared with
        O(expected_md5)/O(expected_sha512) when given, and the download (O(download)) with what Glance reports.
      - The module waits for the import to end and reports how long staging and importing each took.
    type: str
    choices: [upload, glance-direct, web-download]
    default: upload
  uri:
    description: The URL Glance fetches with O(method=web-download).
    type: str
  stores:
    description: Stores to import into (Glance's C(stores) list); empty uses the default store.
    type: list
    elements: str
    default: []
  headers:
    description: More request headers, for example another authentication header.
    type: dict
    default: {}
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle used to verify the server's certificate.
    type: path
  timeout:
    description: Socket timeout in seconds for each request.
    type: float
    default: 300
  wait_timeout:
    description: Seconds to wait for the image to become C(active) after the upload.
    type: float
    default: 600
  expected_size:
    description: Also require Glance's stored size to equal this.
    type: int
  expected_md5:
    description: Also require Glance's md5 C(checksum) to equal this.
    type: str
  expected_sha512:
    description: Also require Glance's sha512 C(os_hash_value) to equal this.
    type: str
  download:
    description: Download the image back and compare its size and hashes too.
    type: bool
    default: false
  delete:
    description: Delete the image afterwards (also when a check failed, once its details are collected).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: In check mode nothing is sent; the module reports what it would upload and C(changed=true).
  diff_mode:
    support: none
    description: An upload has no before and after to show.
  platform:
    support: full
    platforms: posix
    description: Runs on the managed host and connects from there to O(endpoint).
notes:
  - The module always reports C(changed=true) when it uploaded, since it created or filled an image.
  - The module computes md5 and sha512 while sending, so a file is read once.
seealso:
  - name: Glance image data API
    description: Upload and download of image data.
    link: https://docs.openstack.org/api-ref/image/v2/#image-data
"""

EXAMPLES = r"""
- name: Prove a chunked upload through Apache
  httpd_wsgi.glance.image_upload:
    endpoint: http://127.0.0.1:9292
    size: "{{ 256 * 1024 * 1024 }}"
    transfer: chunked
    expect_continue: true
    download: true
    delete: true
  register: upload

- name: Stage 1 GiB chunked and import it (glance-direct), as a member of a project
  httpd_wsgi.glance.image_upload:
    endpoint: https://glance.example.com:9292
    auth:
      auth_url: https://keystone.example.com:5000/v3
      username: demo
      password: "{{ demo_password }}"
      project_name: demo
    method: glance-direct
    size: "{{ 1024 * 1024 * 1024 }}"
    download: true
    delete: true

- name: Upload a real image with 8 MiB chunks to a Keystone-protected endpoint
  httpd_wsgi.glance.image_upload:
    endpoint: https://glance.example.com:9292
    token: "{{ keystone_token }}"
    ca_path: /etc/ssl/certs/internal-ca.pem
    src: /srv/images/debian-12.raw
    name: debian-12
    chunk_size: 8388608
"""

RETURN = r"""
image_id:
  description: ID of the image uploaded to.
  returned: success and failure after the image was created
  type: str
  sample: 6b1c2a2e-8c3e-4e4e-9b5a-0d7d4f5c2a11
status:
  description: Status of the image when the module finished.
  returned: success
  type: str
  sample: active
http_status:
  description: HTTP status of the upload request (204 on success).
  returned: when an upload was sent
  type: int
  sample: 204
bytes:
  description: Bytes sent.
  returned: when an upload was sent
  type: int
  sample: 268435456
seconds:
  description: Seconds from the request's first byte to the server's answer.
  returned: when an upload was sent
  type: float
  sample: 1.84
throughput_mib_s:
  description: Bytes sent per second, in MiB/s.
  returned: when an upload was sent
  type: float
  sample: 139.1
md5:
  description: md5 of the data sent.
  returned: when an upload was sent
  type: str
sha512:
  description: sha512 of the data sent.
  returned: when an upload was sent
  type: str
os_hash_algo:
  description: Hash algorithm Glance reports.
  returned: success
  type: str
  sample: sha512
saw_continue:
  description: Whether the server answered C(100 Continue) (with O(expect_continue)).
  returned: when an upload was sent
  type: bool
download_matched:
  description: Whether the downloaded bytes matched (with O(download)).
  returned: with O(download)
  type: bool
checksum:
  description: The md5 Glance stored for the image.
  returned: success
  type: str
os_hash_value:
  description: The hash (RV(os_hash_algo)) Glance stored for the image.
  returned: success
  type: str
size:
  description: The size Glance stored for the image.
  returned: success
  type: int
method:
  description: How the data went in (O(method)).
  returned: always
  type: str
stage_seconds:
  description: Seconds the stage request took (O(method=glance-direct)).
  returned: with O(method=glance-direct)
  type: float
import_seconds:
  description: Seconds from the import request to the image's C(active) status (import methods).
  returned: with O(method=glance-direct) or O(method=web-download), once the image is active
  type: float
"""

import http.client
import os
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.httpd_wsgi.glance.plugins.module_utils.glance_api import (
    GlanceClient,
    GlanceError,
    file_blocks,
    random_blocks,
)
from ansible_collections.httpd_wsgi.glance.plugins.module_utils.keystone_auth import (
    KeystoneError,
    check_auth,
    cloud_token,
    password_token,
)


def _compare(checks):
    """Return a sentence for each (what, expected, got) that differs."""
    return ["%s: expected %s, Glance has %s" % (what, expected, got)
            for what, expected, got in checks if expected != got]


# (lower, upper) bounds of the numeric options; None: no upper bound.
BOUNDS = dict(size=(0, None), chunk_size=(1, 64 * 1024 * 1024), continue_timeout=(0, 3600),
              rate_limit=(1, None), timeout=(0.001, 86400), wait_timeout=(0.001, 86400), expected_size=(0, None))


def check_params(params, size):
    """Return a message for the first option out of its bounds, or None."""
    values = dict(params, size=size)
    for name, (low, high) in sorted(BOUNDS.items()):
        value = values.get(name)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            return "%s must be %s, got %s" % (
                name, "at least %s" % low if high is None else "between %s and %s" % (low, high), value)
    return None


def check_method(params):
    """Return a message for a combination of options that cannot work, or None."""
    sends_data = params["method"] != "web-download"
    if sends_data and params["src"] is None and params["size"] is None:
        return "method %s needs src or size (the data to send)" % params["method"]
    if not sends_data and (params["src"] is not None or params["size"] is not None):
        return "method web-download sends no data: Glance fetches uri; leave out src and size"
    if (params["method"] == "web-download") != bool(params["uri"]):
        return "uri is for method web-download, and it needs one"
    if params["uri"] and not params["uri"].startswith(("http://", "https://")):
        return "uri must be an http or https URL, got %s" % params["uri"]
    if params["stores"] and params["method"] == "upload":
        return "stores is for the import methods (glance-direct, web-download); an upload goes to the default store"
    if params["auth"] is not None:
        return check_auth(params["auth"])
    return None


def get_token(params):
    if params["auth"] is not None:
        return password_token(params["auth"], timeout=params["timeout"],
                              validate_certs=params["validate_certs"], ca_path=params["ca_path"])
    if params["cloud"]:
        return cloud_token(params["cloud"])
    return params["token"]


def wait_for_import(client, image_id, timeout):
    """Poll until the image is active; fail as soon as Glance records the
    import as failed (the image goes back to queued or uploading)."""
    deadline = time.time() + timeout
    while True:
        image = client.get_image(image_id)
        if image.get("status") == "active":
            return image
        failed = image.get("os_glance_failed_import")
        if failed or image.get("status") in ("killed", "deleted", "deactivated"):
            raise GlanceError("the import of image %s failed: status %s, failed stores %s (Glance's log has the "
                              "task's reason)" % (image_id, image.get("status"), failed or "-"))
        if time.time() > deadline:
            raise GlanceError("image %s still %s after %.0f s of import" % (image_id, image.get("status"), timeout))
        time.sleep(0.5)


def send_data(client, params, image_id, size, result):
    """Upload or stage the data; return the upload result."""
    target = "stage" if params["method"] == "glance-direct" else "file"
    blocks = file_blocks(params["src"]) if params["src"] else random_blocks(size)
    upload = client.upload(image_id, blocks, transfer=params["transfer"], size=size,
                           chunk_size=params["chunk_size"], expect_continue=params["expect_continue"],
                           continue_timeout=params["continue_timeout"], rate_limit=params["rate_limit"],
                           target=target)
    result.update(http_status=upload.status, bytes=upload.size, seconds=round(upload.seconds, 3),
                  throughput_mib_s=round(upload.mib_per_second, 1), md5=upload.md5,
                  sha512=upload.sha512, saw_continue=upload.saw_continue)
    if target == "stage":
        result["stage_seconds"] = round(upload.seconds, 3)
    if upload.status != 204:
        raise GlanceError("the %s answered %d (expected 204): %s"
                          % ("stage" if target == "stage" else "upload", upload.status, upload.body.strip()[:2000]),
                          status=upload.status)
    return upload


def run_module(module):
    params = module.params
    size = None
    if params["src"]:
        if not os.path.isfile(params["src"]):
            module.fail_json(msg="src %s is not a readable file" % params["src"])
        size = os.path.getsize(params["src"])
    elif params["size"] is not None:
        size = params["size"]
    problem = check_params(params, size) or check_method(params)
    if problem:
        module.fail_json(msg=problem)

    if module.check_mode:
        what = {"upload": "upload %s bytes (%s)" % (size, params["transfer"]),
                "glance-direct": "stage %s bytes (%s) and import them (glance-direct)" % (size, params["transfer"]),
                "web-download": "import %s (web-download)" % params["uri"]}[params["method"]]
        module.exit_json(changed=True, bytes=size or 0, method=params["method"],
                         msg="would %s to %s" % (what, params["endpoint"]))

    try:
        token = get_token(params)
        client = GlanceClient(params["endpoint"], token=token, headers=params["headers"],
                              timeout=params["timeout"], validate_certs=params["validate_certs"],
                              ca_path=params["ca_path"])
    except (ValueError, KeystoneError) as error:
        module.fail_json(msg=str(error))
    result = dict(changed=False, method=params["method"])
    image_id = params["image_id"]
    try:
        if not image_id:
            image_id = client.create_image(params["name"], params["disk_format"], params["container_format"])["id"]
        result.update(changed=True, image_id=image_id)
        upload = None
        if params["method"] != "web-download":
            upload = send_data(client, params, image_id, size, result)
        if params["method"] == "upload":
            image = client.wait_for_status(image_id, "active", timeout=params["wait_timeout"])
        else:
            started = time.time()
            client.import_image(image_id, params["method"], uri=params["uri"], stores=params["stores"] or None)
            image = wait_for_import(client, image_id, params["wait_timeout"])
            result["import_seconds"] = round(time.time() - started, 3)
        result.update(status=image.get("status"), os_hash_algo=image.get("os_hash_algo"),
                      checksum=image.get("checksum"), os_hash_value=image.get("os_hash_value"),
                      size=image.get("size"))
        mismatches = _compare([
            ("size", upload.size, image.get("size")),
            ("md5 checksum", upload.md5, image.get("checksum")),
            ("os_hash_algo", "sha512", image.get("os_hash_algo")),
            ("sha512 os_hash_value", upload.sha512, image.get("os_hash_value")),
        ]) if upload else []
        mismatches += _compare([(what, expected, got) for what, expected, got in (
            ("expected_size", params["expected_size"], image.get("size")),
            ("expected_md5", params["expected_md5"], image.get("checksum")),
            ("expected_sha512", params["expected_sha512"], image.get("os_hash_value")),
        ) if expected is not None])
        if params["download"]:
            got = client.download(image_id)
            # Without data of its own (web-download) the module compares the
            # download with what Glance computed while importing.
            wanted = ((upload.size, upload.md5, upload.sha512) if upload
                      else (image.get("size"), image.get("checksum"), image.get("os_hash_value")))
            result["download_matched"] = got == wanted
            if not result["download_matched"]:
                mismatches.append("download: expected %s bytes md5 %s, got back %d bytes md5 %s"
                                  % (wanted[0], wanted[1], got[0], got[1]))
        if mismatches:
            raise GlanceError("image %s does not match what was sent: %s" % (image_id, "; ".join(mismatches)))
    except GlanceError as error:
        _cleanup(module, client, image_id, result)
        module.fail_json(msg=str(error), **result)
    except (OSError, ValueError, http.client.HTTPException) as error:
        # A refused or reset connection, an endpoint that does not speak
        # HTTP, a certificate that does not verify: one line, not a traceback
        # only (the traceback stays in the result for -vvv).
        _cleanup(module, client, image_id, result)
        module.fail_json(msg="%s: %s" % (type(error).__name__, error), exception=traceback.format_exc(), **result)
    _cleanup(module, client, image_id, result)
    module.exit_json(**result)


def _cleanup(module, client, image_id, result):
    if module.params["delete"] and image_id:
        try:
            client.delete_image(image_id)
            result["deleted"] = True
        except (GlanceError, OSError, http.client.HTTPException) as error:
            result["delete_error"] = str(error)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoint=dict(type="str", required=True),
            image_id=dict(type="str"),
            name=dict(type="str", default="httpd-wsgi-glance-upload-check"),
            disk_format=dict(type="str", default="raw"),
            container_format=dict(type="str", default="bare"),
            src=dict(type="path"),
            size=dict(type="int"),
            transfer=dict(type="str", choices=["chunked", "content_length"], default="chunked"),
            chunk_size=dict(type="int", default=65536),
            expect_continue=dict(type="bool", default=False),
            continue_timeout=dict(type="float", default=10),
            rate_limit=dict(type="int"),
            token=dict(type="str", no_log=True),
            auth=dict(type="dict", options=dict(
                auth_url=dict(type="str", required=True),
                username=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
                project_name=dict(type="str", required=True),
                user_domain_name=dict(type="str", default="Default"),
                project_domain_name=dict(type="str", default="Default"),
            )),
            cloud=dict(type="str"),
            method=dict(type="str", choices=["upload", "glance-direct", "web-download"], default="upload"),
            uri=dict(type="str"),
            stores=dict(type="list", elements="str", default=[]),
            headers=dict(type="dict", default={}, no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            timeout=dict(type="float", default=300),
            wait_timeout=dict(type="float", default=600),
            expected_size=dict(type="int"),
            expected_md5=dict(type="str"),
            expected_sha512=dict(type="str"),
            download=dict(type="bool", default=False),
            delete=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("src", "size"), ("token", "auth", "cloud")],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
