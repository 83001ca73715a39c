"""Proves the default deployment on the running container: Glance (Debian 12
packages) under uWSGI's http-socket behind Apache's mod_proxy_http."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.integration.upload_checks import (  # noqa: E402  pylint: disable=wrong-import-position
    MIB, GlanceClient, curl_upload, record, upload_and_check)

APACHE = "http://127.0.0.1:29292"
UWSGI = "http://127.0.0.1:29293"
UWSGI_PORT = 29293
SOCKET_TIMEOUT = 60
UPLOAD_SIZE = 64 * MIB


def test_services_active_and_enabled(host):
    for name in ("apache2", "glance-uwsgi"):
        service = host.service(name)
        assert service.is_running, name
        assert service.is_enabled, name


def test_packaged_glance_api_is_masked_and_stopped(host):
    assert host.run("systemctl is-enabled glance-api").stdout.strip() == "masked"
    assert not host.service("glance-api").is_running


def test_uwsgi_listens_on_loopback_only(host):
    listeners = [line for line in host.check_output("ss -Htln").splitlines()
                 if re.search(r":%d\s" % UWSGI_PORT, line + " ")]
    assert listeners, "nothing listens on %d" % UWSGI_PORT
    for line in listeners:
        local = line.split()[3]
        assert local == "127.0.0.1:%d" % UWSGI_PORT, line


def test_uwsgi_runs_as_glance_under_a_hardened_unit(host):
    props = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show glance-uwsgi -p User -p Restart -p NoNewPrivileges -p ProtectSystem"
        " -p PrivateTmp -p Type").splitlines())
    assert props == {"User": "glance", "Restart": "always", "NoNewPrivileges": "yes",
                     "ProtectSystem": "strict", "PrivateTmp": "yes", "Type": "notify"}
    workers = host.check_output("ps -o user= -C uwsgi-core").split()
    assert workers and set(workers) == {"glance"}


def test_uwsgi_ini_has_the_glance_option_set(host):
    ini = host.file("/etc/uwsgi/glance-uwsgi.ini").content_string
    for line in ("http-socket = 127.0.0.1:%d" % UWSGI_PORT, "http-chunked-input = true",
                 "http-auto-chunked = true", "http-raw-body = true", "lazy-apps = true",
                 "add-header = Connection: close", "buffer-size = 65535", "thunder-lock = true",
                 "enable-threads = true", "master = true", "die-on-term = true",
                 "chunked-input-limit = 67108864", "wsgi-file = /usr/bin/glance-wsgi-api"):
        assert line in ini.splitlines(), line
    assert "exit-on-reload" not in ini
    assert ini.startswith(";\n; Ansible managed")


def test_site_enabled_through_its_link(host):
    link = host.file("/etc/apache2/sites-enabled/glance-api.conf")
    assert link.is_symlink
    assert link.linked_to == "/etc/apache2/sites-available/glance-api.conf"
    assert not host.file("/etc/apache2/sites-enabled/000-default.conf").exists
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "Proxy100Continue Off" in site
    assert re.search(r"ProxyPass / http://127.0.0.1:%d/ retry=0 " % UWSGI_PORT, site)
    assert "LimitRequestBody 0" in site


def test_apache_listens_only_where_told(host):
    ports = host.file("/etc/apache2/ports.conf").content_string
    assert [l for l in ports.splitlines() if l.startswith("Listen")] == ["Listen 127.0.0.1:29292"]
    assert not host.socket("tcp://0.0.0.0:80").is_listening


def test_proxy_modules_enabled(host):
    modules = host.check_output("apache2ctl -M 2>/dev/null")
    for module in ("proxy_module", "proxy_http_module", "headers_module"):
        assert module in modules


def test_chunked_upload_through_apache(host):
    upload_and_check(host, APACHE, "chunked-via-apache", UPLOAD_SIZE)


def test_chunked_upload_with_expect_continue_through_apache(host):
    result = upload_and_check(host, APACHE, "chunked-expect-via-apache", UPLOAD_SIZE,
                              expect_continue=True)
    assert result.saw_continue, "Apache did not answer 100 Continue"
    assert result.seconds < SOCKET_TIMEOUT / 2


def test_curl_chunked_upload_with_expect_continue(host, tmp_path):
    source = tmp_path / "image.raw"
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with open(source, "wb") as handle:
        for _ in range(UPLOAD_SIZE // MIB):
            block = os.urandom(MIB)
            md5.update(block)
            sha512.update(block)
            handle.write(block)
    image_id, status, seconds = curl_upload(
        APACHE, source, ("Transfer-Encoding: chunked", "Expect: 100-continue"))
    assert status == 204
    assert seconds < SOCKET_TIMEOUT / 2, "curl took %.1f s: Apache waited for 100 Continue" % seconds
    client = GlanceClient(APACHE)
    image = client.wait_for_status(image_id)
    assert (image["size"], image["checksum"], image["os_hash_value"]) == (
        UPLOAD_SIZE, md5.hexdigest(), sha512.hexdigest())
    record("curl-chunked-expect", endpoint=APACHE, transfer="chunked", chunk_size="curl",
           expect_continue=True, bytes=UPLOAD_SIZE, seconds=seconds,
           mib_per_s=round(UPLOAD_SIZE / MIB / seconds, 1), md5=md5.hexdigest(),
           sha512=sha512.hexdigest()[:16] + "...", checksums_match=True)
    client.delete_image(image_id)


def test_chunked_upload_with_8_mib_chunks_straight_to_uwsgi(host):
    upload_and_check(host, UWSGI, "chunked-8MiB-direct-uwsgi", UPLOAD_SIZE, chunk_size=8 * MIB)


def test_chunked_upload_straight_to_uwsgi(host):
    upload_and_check(host, UWSGI, "chunked-direct-uwsgi", UPLOAD_SIZE)


def test_content_length_upload_through_apache(host):
    upload_and_check(host, APACHE, "content-length-via-apache", UPLOAD_SIZE,
                     transfer="content_length")


def test_check_mode_reports_no_change(host):
    """A check-mode run against the converged host predicts no change."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    before = host.check_output("md5sum /etc/glance/glance-api.conf /etc/uwsgi/glance-uwsgi.ini "
                               "/etc/apache2/sites-available/glance-api.conf")
    run = subprocess.run(
        ["ansible-playbook", "-i", inventory, "--check", str(scenario / "converge.yml")],
        capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    recap = re.findall(r"changed=(\d+).*failed=(\d+)", run.stdout)
    assert recap and all(changed == "0" and failed == "0" for changed, failed in recap), run.stdout[-3000:]
    assert host.check_output("md5sum /etc/glance/glance-api.conf /etc/uwsgi/glance-uwsgi.ini "
                             "/etc/apache2/sites-available/glance-api.conf") == before


@pytest.mark.parametrize("path", ["/etc/glance/glance-api.conf",
                                  "/etc/systemd/system/glance-uwsgi.service",
                                  "/etc/apache2/sites-available/glance-api.conf",
                                  "/etc/apache2/ports.conf"])
def test_written_files_carry_the_managed_header(host, path):
    assert "Ansible managed" in host.file(path).content_string.splitlines()[1]


def test_glance_config_has_no_dropped_options(host):
    conf = host.file("/etc/glance/glance-api.conf").content_string
    for dropped in ("bind_host", "bind_port", "workers"):
        assert not re.search(r"^%s\s*=" % dropped, conf, re.M)
