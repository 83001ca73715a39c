"""An EL host deployed with install method auto (venv, since no RDO
repository is configured): httpd with the site in conf.d, the proxy modules
loaded from conf.modules.d, uWSGI from the virtualenv, and chunked uploads
through Apache stored intact."""

from tests.integration.upload_checks import (  # noqa: F401
    APACHE, MIB, assert_verify_playbook_passes, check_mode_changes_nothing, curl_chunked_expect_check,
    listening_ports, upload_and_check)

UPLOAD_SIZE = 64 * MIB
SITE = "/etc/httpd/conf.d/glance-api.conf"


def test_httpd_serves_the_site_from_conf_d(host):
    assert host.service("httpd").is_running and host.service("httpd").is_enabled
    assert host.file(SITE).exists
    assert not host.file("/etc/httpd/sites-enabled").exists
    assert "Syntax OK" in host.run("httpd -t").stderr


def test_stock_listen_80_gave_way(host):
    assert host.run("grep -E '^Listen ' /etc/httpd/conf/httpd.conf").rc == 1
    assert 29292 in listening_ports(host)


def test_proxy_http_is_loaded_and_proxy_uwsgi_is_not(host):
    modules = host.check_output("httpd -M 2>/dev/null")
    assert "proxy_http_module" in modules and "proxy_uwsgi_module" not in modules


def test_uwsgi_runs_from_the_virtualenv(host):
    ini = host.file("/etc/uwsgi/glance-uwsgi.ini").content_string
    assert "wsgi-file = /usr/local/share/glance-wsgi/uwsgi-app.py" in ini and "virtualenv = /opt/glance/glance-33.0.0" in ini
    assert "from glance.wsgi.api import" in host.file("/usr/local/share/glance-wsgi/uwsgi-app.py").content_string
    assert host.service("glance-uwsgi").is_running
    assert "127.0.0.1:29293" in host.check_output("ss -Htln")


def test_chunked_upload_through_apache(host):
    upload_and_check(host, APACHE, "el-chunked", UPLOAD_SIZE)


def test_chunked_upload_with_expect_continue(host):
    upload_and_check(host, APACHE, "el-chunked-expect", UPLOAD_SIZE, expect_continue=True)


def test_content_length_upload_through_apache(host):
    upload_and_check(host, APACHE, "el-content-length", UPLOAD_SIZE, transfer="content_length")


def test_curl_chunked_upload_with_expect_does_not_stall(host, tmp_path):
    curl_chunked_expect_check(tmp_path, APACHE, 32 * MIB, limit=30)


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, [SITE, "/etc/uwsgi/glance-uwsgi.ini", "/etc/glance/glance-api.conf"])


def test_verify_playbook_uploads_through_the_module(host):
    assert_verify_playbook_passes()
