"""Mode uwsgi: uWSGI's binary protocol on a unix socket behind mod_proxy_uwsgi.
Content-Length uploads work; Apache refuses chunked ones with 411."""

from tests.integration.upload_checks import (  # noqa: F401
    spoofed_forwarding_headers_are_ignored,
    run_image_upload, run_verify_playbook,
    APACHE, MIB, check_mode_changes_nothing, chunked_upload_is_refused, enabled_apache_modules,
    listening_ports, upload_and_check)

SOCKET = "/run/glance-uwsgi/uwsgi.sock"
UPLOAD_SIZE = 64 * MIB


def test_services(host):
    assert host.service("apache2").is_running
    assert host.service("glance-uwsgi").is_running
    assert host.service("glance-uwsgi").is_enabled


def test_unix_socket_is_0660_owned_by_glance_and_apache_group(host):
    socket = host.file(SOCKET)
    assert socket.is_socket
    assert (socket.user, socket.group, socket.mode) == ("glance", "www-data", 0o660)


def test_uwsgi_has_no_tcp_listener(host):
    ini = host.file("/etc/uwsgi/glance-uwsgi.ini").content_string.splitlines()
    assert "socket = %s" % SOCKET in ini
    assert not [line for line in ini if line.startswith("http-socket")]
    pid = host.check_output("systemctl show -p MainPID --value glance-uwsgi")
    assert host.run("ss -Htlnp | grep -F 'pid=%s,'" % pid).stdout == ""


def test_apache_uses_mod_proxy_uwsgi(host):
    modules = enabled_apache_modules(host)
    assert {"proxy", "proxy_uwsgi"} <= modules
    assert not {"proxy_http", "wsgi"} & modules
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "ProxyPass / unix:%s|uwsgi://glance-api/ retry=0" % SOCKET in site


def test_content_length_upload_works(host):
    upload_and_check(host, APACHE, "content-length-via-uwsgi-proto", UPLOAD_SIZE, transfer="content_length")


def test_chunked_upload_is_refused_quickly_and_leaves_nothing(host):
    chunked_upload_is_refused(host, APACHE, UPLOAD_SIZE, status=411, within=5.0)


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, ["/etc/uwsgi/glance-uwsgi.ini", "/etc/apache2/sites-available/glance-api.conf"])


def test_only_the_scenario_port_is_taken(host):
    assert 29292 in listening_ports(host)


def test_verify_playbook_content_length_through_the_module(host):
    rc, results = run_verify_playbook(transfers=["content_length"])
    assert rc == 0, results
    assert results[0]["status"] == "active" and results[0]["download_matched"]


def test_module_reports_the_411_for_chunked(host):
    rc, result = run_image_upload({"endpoint": APACHE, "size": MIB, "delete": True})
    assert rc != 0 and result["http_status"] == 411
    assert "answered 411 (expected 204)" in result["msg"], result["msg"]


def test_spoofed_forwarding_headers_do_not_reach_glance(host):
    spoofed_forwarding_headers_are_ignored(APACHE)
