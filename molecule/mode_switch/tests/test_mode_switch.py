"""A host that ran mode http was converged to mode mod_wsgi: uWSGI's unit,
ini and listener are gone, the proxy modules are disabled, and mod_wsgi
serves uploads."""

from tests.integration.upload_checks import (  # noqa: F401
    assert_verify_playbook_passes,
    APACHE, MIB, check_mode_changes_nothing, enabled_apache_modules, listening_ports, upload_and_check)

UPLOAD_SIZE = 64 * MIB


def test_uwsgi_is_gone(host):
    assert not host.file("/etc/systemd/system/glance-uwsgi.service").exists
    assert not host.file("/etc/uwsgi/glance-uwsgi.ini").exists
    assert host.run("pgrep -x uwsgi-core").rc == 1
    assert "glance-uwsgi" not in host.check_output("systemctl list-units --all --no-legend glance-uwsgi*")
    assert 29293 not in listening_ports(host)


def test_only_mod_wsgi_modules_remain(host):
    modules = enabled_apache_modules(host)
    assert "wsgi" in modules
    assert not {"proxy", "proxy_http", "proxy_uwsgi"} & modules


def test_apache_listens_once(host):
    listeners = [l for l in host.check_output("ss -Htln").splitlines() if l.split()[3].endswith(":29292")]
    assert len(listeners) == 1


def test_chunked_upload_after_switch(host):
    upload_and_check(host, APACHE, "chunked-after-switch", UPLOAD_SIZE)


def test_content_length_upload_after_switch(host):
    upload_and_check(host, APACHE, "content-length-after-switch", UPLOAD_SIZE, transfer="content_length")


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, ["/etc/apache2/sites-available/glance-api.conf"])


def test_verify_playbook_uploads_through_the_module(host):
    assert_verify_playbook_passes()
