"""httpd_wsgi.glance.image_upload run by ansible-playbook against the
stand-in Glance: results, hash comparison, failure messages, check mode."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from glance_stub import StubGlance  # noqa: E402

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Upload
      httpd_wsgi.glance.image_upload: {args}
"""


@pytest.fixture
def glance():
    with StubGlance() as server:
        yield server


def _run(run_playbook, args, check=False):
    process = run_playbook(PLAY.format(args=json.dumps(args)), check=check)
    report = json.loads(process.stdout)
    return process.returncode, report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_chunked_upload_reports_matching_hashes(run_playbook, glance):
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 3 * 1024 * 1024,
                                     "chunk_size": 1048576, "expect_continue": True, "download": True})
    assert rc == 0, result
    assert result["changed"] and result["status"] == "active" and result["http_status"] == 204
    assert result["bytes"] == 3 * 1024 * 1024 and result["saw_continue"] and result["download_matched"]
    assert glance.images[result["image_id"]]["checksum"] == result["md5"]
    assert glance.chunk_sizes == [1048576] * 3


def test_src_file_with_content_length_and_delete(run_playbook, glance, tmp_path):
    source = tmp_path / "image.raw"
    source.write_bytes(b"x" * 100000)
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "src": str(source),
                                     "transfer": "content_length", "delete": True})
    assert rc == 0, result
    assert result["bytes"] == 100000 and result["deleted"]
    assert result["image_id"] not in glance.images


def test_wrong_checksum_in_glance_fails_clearly(run_playbook, glance):
    glance.corrupt_checksum = True
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 4096})
    assert rc != 0
    assert "does not match what was sent: md5 checksum: expected %s, Glance has %s" % (
        result["md5"], "0" * 32) in result["msg"]


def test_wrong_expected_size_fails_clearly(run_playbook, glance):
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 4096, "expected_size": 4097})
    assert rc != 0
    assert "expected_size: expected 4097, Glance has 4096" in result["msg"]


def test_http_refusal_fails_with_status_and_message(run_playbook, glance):
    glance.refuse_chunked = True
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 4096})
    assert rc != 0
    assert result["http_status"] == 411
    assert "answered 411 (expected 204): Length Required" in result["msg"]


def test_check_mode_uploads_nothing(run_playbook, glance):
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 4096}, check=True)
    assert rc == 0 and result["changed"]
    assert "would upload 4096 bytes" in result["msg"]
    assert glance.images == {}


def test_src_and_size_are_exclusive(run_playbook, glance, tmp_path):
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 1, "src": str(tmp_path)})
    assert rc != 0 and "mutually exclusive" in result["msg"]


@pytest.mark.parametrize("endpoint, message", [
    ("127.0.0.1:9292", "endpoint must be an http:// or https:// URL"),
    ("http://127.0.0.1:port", "endpoint has an invalid port"),
    ("http:///v2", "endpoint has no host"),
])
def test_a_bad_endpoint_is_a_message_not_a_traceback(run_playbook, glance, endpoint, message):
    rc, result = _run(run_playbook, {"endpoint": endpoint, "size": 1})
    assert rc != 0
    assert message in result["msg"] and "Traceback" not in result["msg"]
    assert "module_stdout" not in result and "MODULE FAILURE" not in result["msg"]


def test_a_server_that_does_not_speak_http_is_a_message(run_playbook):
    """http.client.HTTPException (a bad status line) fails the task with a
    message instead of crashing the module."""
    import socket
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def answer_garbage():
        for _count in range(4):
            try:
                conn, _addr = server.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            conn.close()
    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        rc, result = _run(run_playbook, {"endpoint": "http://127.0.0.1:%d" % server.getsockname()[1], "size": 1})
    finally:
        server.close()
    assert rc != 0
    assert "BadStatusLine" in result["msg"] or "RemoteDisconnected" in result["msg"], result["msg"]
    assert "module_stdout" not in result


def test_headers_are_not_logged(run_playbook, glance):
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 16,
                                     "headers": {"X-Service-Token": "secret-service-token"}})
    assert rc == 0, result
    assert "secret-service-token" not in json.dumps(result)


@pytest.mark.parametrize("args, message", [
    ({"size": -1}, "size must be at least 0"),
    ({"size": 1, "chunk_size": 0}, "chunk_size must be between 1 and"),
    ({"size": 1, "timeout": 0}, "timeout must be between"),
    ({"size": 1, "wait_timeout": -1}, "wait_timeout must be between"),
    ({"size": 1, "rate_limit": 0}, "rate_limit must be at least 1"),
])
def test_numbers_out_of_bounds_are_refused(run_playbook, glance, args, message):
    rc, result = _run(run_playbook, dict({"endpoint": glance.endpoint}, **args))
    assert rc != 0 and message in result["msg"], result["msg"]
    assert glance.images == {}


@pytest.mark.parametrize("args, message", [
    ({"method": "web-download", "uri": "http://127.0.0.1:1/x", "size": 10}, "web-download sends no data"),
    ({"method": "glance-direct"}, "method glance-direct needs src or size"),
    ({"method": "web-download"}, "uri is for method web-download, and it needs one"),
    ({"size": 10, "uri": "http://127.0.0.1:1/x"}, "uri is for method web-download"),
    ({"method": "web-download", "uri": "file:///etc/passwd"}, "uri must be an http or https URL"),
    ({"size": 10, "stores": ["fs"]}, "stores is for the import methods"),
    ({"size": 10, "auth": {"auth_url": "http://127.0.0.1:1/v3", "username": "hwg-user"}},
     "missing required arguments: password, project_name found in auth"),
    ({"size": 10, "auth": {"auth_url": "ftp://127.0.0.1:1/v3", "username": "hwg-user", "password": "hwg-secret-1",
                           "project_name": "hwg-project"}}, "auth.auth_url must be an http or https URL"),
    ({"size": 10, "token": "hwg-token-1", "auth": {"auth_url": "http://127.0.0.1:1/v3", "username": "hwg-user",
                                                   "password": "hwg-secret-1", "project_name": "hwg-project"}},
     "mutually exclusive: token|auth|cloud"),
])
def test_import_options_that_cannot_work_are_refused_before_any_request(run_playbook, glance, args, message):
    rc, result = _run(run_playbook, dict(endpoint=glance.endpoint, **args))
    assert rc != 0 and message in result["msg"], result
    assert glance.images == {}


def test_keystone_that_cannot_be_reached_is_one_clear_line(run_playbook, glance):
    auth = {"auth_url": "http://127.0.0.1:9/v3", "username": "hwg-user", "password": "hwg-secret-1",
            "project_name": "hwg-project"}
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "size": 10, "auth": auth})
    assert rc != 0 and "Keystone at http://127.0.0.1:9/v3" in result["msg"], result
    assert "hwg-secret-1" not in json.dumps(result)
    assert glance.images == {}
