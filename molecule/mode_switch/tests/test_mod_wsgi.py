"""Mode mod_wsgi (the mode_switch scenario's host, after the switch): Glance
in mod_wsgi daemon processes, WSGIChunkedRequest On, no uWSGI. Chunked (with
and without Expect) and Content-Length uploads work."""

from tests.integration.upload_checks import (  # noqa: F401
    spoofed_forwarding_headers_are_ignored,
    assert_verify_playbook_passes,
    APACHE, MIB, check_mode_changes_nothing, curl_chunked_expect_check, enabled_apache_modules,
    upload_and_check)

UPLOAD_SIZE = 64 * MIB


def test_apache_runs_and_no_uwsgi_unit_exists(host):
    assert host.service("apache2").is_running
    assert not host.file("/etc/systemd/system/glance-uwsgi.service").exists
    assert not host.file("/etc/uwsgi/glance-uwsgi.ini").exists
    assert host.run("pgrep -x uwsgi-core").rc == 1


def test_site_runs_glance_in_a_daemon_process_group(host):
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "WSGIDaemonProcess glance-api processes=2 threads=4 user=glance group=glance" in site
    assert "WSGIChunkedRequest On" in site
    assert "WSGIScriptAlias / /usr/bin/glance-wsgi-api process-group=glance-api application-group=%{GLOBAL}" in site
    assert "ProxyPass" not in site


def test_daemon_processes_run_as_glance(host):
    users = host.check_output("ps -o user= -C apache2").split()
    assert "glance" in users and "www-data" in users


def test_only_mod_wsgi_modules(host):
    modules = enabled_apache_modules(host)
    assert "wsgi" in modules
    assert not {"proxy", "proxy_http", "proxy_uwsgi"} & modules


def test_access_is_limited_to_the_script(host):
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "<Directory /usr/bin>" in site and "Require all denied" in site
    assert "<Files glance-wsgi-api>" in site


def test_chunked_upload(host):
    upload_and_check(host, APACHE, "chunked-via-mod-wsgi", UPLOAD_SIZE)


def test_chunked_upload_with_expect_continue(host):
    upload_and_check(host, APACHE, "chunked-expect-via-mod-wsgi", UPLOAD_SIZE, expect_continue=True)


def test_curl_chunked_upload_with_expect_continue(host, tmp_path):
    curl_chunked_expect_check(tmp_path, APACHE, UPLOAD_SIZE, 30)


def test_content_length_upload(host):
    upload_and_check(host, APACHE, "content-length-via-mod-wsgi", UPLOAD_SIZE, transfer="content_length")


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, ["/etc/glance/glance-api.conf", "/etc/apache2/sites-available/glance-api.conf"])


def test_verify_playbook_uploads_through_the_module(host):
    assert_verify_playbook_passes()


def test_spoofed_forwarding_headers_do_not_reach_glance(host):
    spoofed_forwarding_headers_are_ignored(APACHE)
