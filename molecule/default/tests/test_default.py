"""Proves the default deployment on the running container: Glance (Debian 12
packages) under uWSGI's http-socket behind Apache's mod_proxy_http."""

import json
import re

import pytest

from tests.integration.upload_checks import (  # noqa: F401
    metadefs_are_served, spoofed_forwarding_headers_are_ignored,
    assert_verify_playbook_passes, run_image_upload,
    APACHE, LISTEN_PORT, MIB, UWSGI_PORT, ApacheTmpWatcher, annotate_last, check_mode_changes_nothing,
    curl_chunked_expect_check, enabled_apache_modules, upload_and_check)

UWSGI = "http://127.0.0.1:%d" % UWSGI_PORT
SOCKET_TIMEOUT = 60
UPLOAD_SIZE = 64 * MIB
WATCHED = ["/etc/glance/glance-api.conf", "/etc/uwsgi/glance-uwsgi.ini",
           "/etc/apache2/sites-available/glance-api.conf", "/etc/apache2/ports.conf",
           "/etc/apache2/conf-available/apache-proxy-listen.conf"]


def test_services_active_and_enabled(host):
    for name in ("apache2", "glance-uwsgi"):
        service = host.service(name)
        assert service.is_running, name
        assert service.is_enabled, name


def test_packaged_glance_api_is_masked_and_stopped(host):
    assert host.run("systemctl is-enabled glance-api").stdout.strip() == "masked"
    assert not host.service("glance-api").is_running


def test_glance_installed_without_its_recommends(host):
    """glance_wsgi_install_recommends false: glance-api is there, what only
    its recommends pull in (SciPy, a C compiler) is not."""
    assert host.package("glance-api").is_installed
    for name in ("python3-scipy", "gcc-12", "python3-matplotlib"):
        assert not host.package(name).is_installed, name


def test_uwsgi_listens_on_loopback_only(host):
    listeners = [line for line in host.check_output("ss -Htln").splitlines()
                 if re.search(r":%d\s" % UWSGI_PORT, line + " ")]
    assert listeners, "nothing listens on %d" % UWSGI_PORT
    for line in listeners:
        assert line.split()[3] == "127.0.0.1:%d" % UWSGI_PORT, line


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
                 "enable-threads = true", "master = true",
                 "hook-master-start = unix_signal:15 gracefully_kill_them_all",
                 "worker-reload-mercy = 900", "master-fifo = /run/glance-uwsgi/master.fifo",
                 "chunked-input-limit = 67108864", "wsgi-file = /usr/local/share/glance-wsgi/uwsgi-app.py",
                 "skip-atexit-teardown = true"):
        assert line in ini.splitlines(), line
    # The role's entry point loads the packaged script and runs Glance's
    # exit hook before the libraries' exit handlers.
    entry = host.file("/usr/local/share/glance-wsgi/uwsgi-app.py").content_string
    assert 'runpy.run_path("/usr/bin/glance-wsgi-api"' in entry and "__cxa_atexit" in entry
    # Graceful stop and reload: neither would let a running upload finish.
    assert "exit-on-reload" not in ini and "die-on-term" not in ini
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
    """The site's Listen is in the role's Listen file; the stock Listen
    lines stay in ports.conf, commented out because the scenario asks so
    (apache_proxy_disable_stock_listen)."""
    listen = host.file("/etc/apache2/conf-enabled/apache-proxy-listen.conf")
    assert listen.is_symlink
    listens = [l for l in listen.content_string.splitlines() if l.startswith("Listen")]
    assert listens == ["Listen 127.0.0.1:%d" % LISTEN_PORT]
    ports = host.file("/etc/apache2/ports.conf").content_string
    assert not [l for l in ports.splitlines() if l.strip().startswith("Listen")]
    assert "#Listen 80  (apache_proxy_disable_stock_listen)" in ports
    assert not host.socket("tcp://0.0.0.0:80").is_listening
    record = json.loads(host.file("/etc/apache2/apache-proxy-sites/site-glance-api.json").content_string)
    assert record["listen"] == ["127.0.0.1:%d" % LISTEN_PORT]


def test_proxy_modules_enabled_and_others_not(host):
    modules = enabled_apache_modules(host)
    assert {"proxy", "proxy_http", "headers"} <= modules
    assert not {"proxy_uwsgi", "wsgi"} & modules


def test_chunked_upload_through_apache(host):
    upload_and_check(host, APACHE, "chunked-via-apache", UPLOAD_SIZE)


def test_chunked_upload_with_expect_continue_through_apache(host):
    result = upload_and_check(host, APACHE, "chunked-expect-via-apache", UPLOAD_SIZE,
                              expect_continue=True)
    assert result.saw_continue, "Apache did not answer 100 Continue"
    assert result.seconds < SOCKET_TIMEOUT / 2


def test_curl_chunked_upload_with_expect_continue(host, tmp_path):
    curl_chunked_expect_check(tmp_path, APACHE, UPLOAD_SIZE, SOCKET_TIMEOUT / 2)


def test_chunked_upload_with_8_mib_chunks_straight_to_uwsgi(host):
    upload_and_check(host, UWSGI, "chunked-8MiB-direct-uwsgi", UPLOAD_SIZE, chunk_size=8 * MIB)


def test_chunked_upload_straight_to_uwsgi(host):
    upload_and_check(host, UWSGI, "chunked-direct-uwsgi", UPLOAD_SIZE)


def test_content_length_upload_through_apache(host):
    upload_and_check(host, APACHE, "content-length-via-apache", UPLOAD_SIZE, transfer="content_length")


def test_sibling_proxy_sendcl_does_not_make_glance_buffer(host):
    """The scenario sets proxy-sendcl for the whole virtual host and for a
    sibling path. Glance's uploads must stream past Apache's temporary
    directory, while the sibling path (same backend) does spool: that proves
    the sibling's setting is live and the measurement can see spooling."""
    with ApacheTmpWatcher(host) as glance_path:
        upload_and_check(host, APACHE, "chunked-beside-sendcl-sibling", UPLOAD_SIZE, rate_limit=48 * MIB)
    annotate_last(apache_tmp_peak=glance_path.peak_above_baseline)
    with ApacheTmpWatcher(host) as sibling_path:
        upload_and_check(host, APACHE + "/sibling", "chunked-via-sendcl-sibling", UPLOAD_SIZE,
                         rate_limit=48 * MIB)
    annotate_last(apache_tmp_peak=sibling_path.peak_above_baseline)
    assert sibling_path.samples > 5 and glance_path.samples > 5
    assert glance_path.peak_above_baseline < MIB, glance_path.peak_above_baseline
    assert sibling_path.peak_above_baseline >= UPLOAD_SIZE // 2, sibling_path.peak_above_baseline


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, WATCHED)


@pytest.mark.parametrize("path", [p for p in WATCHED if p != "/etc/apache2/ports.conf"]
                         + ["/etc/systemd/system/glance-uwsgi.service"])
def test_written_files_carry_the_managed_header(host, path):
    assert "Ansible managed" in host.file(path).content_string.splitlines()[1]


def test_glance_config_has_no_dropped_options(host):
    conf = host.file("/etc/glance/glance-api.conf").content_string
    for dropped in ("bind_host", "bind_port", "workers"):
        assert not re.search(r"^%s\s*=" % dropped, conf, re.M)


def test_verify_playbook_uploads_through_the_module(host):
    assert_verify_playbook_passes()


def test_module_fails_clearly_on_a_wrong_expected_size(host):
    rc, result = run_image_upload({"endpoint": APACHE, "size": MIB, "expected_size": MIB + 1, "delete": True})
    assert rc != 0
    assert "expected_size: expected %d, Glance has %d" % (MIB + 1, MIB) in result["msg"], result["msg"]


def test_spoofed_forwarding_headers_do_not_reach_glance(host):
    spoofed_forwarding_headers_are_ignored(APACHE)


def test_metadata_definitions_are_loaded_once(host):
    metadefs_are_served(APACHE)
    markers = host.run("ls /var/lib/glance/.metadefs-loaded-*").stdout.split()
    assert len(markers) == 1, markers
