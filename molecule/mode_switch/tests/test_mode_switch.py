"""A host that ran mode http was converged to mode mod_wsgi: uWSGI's unit,
ini and listener are gone and Apache listens once. test_mod_wsgi.py then
proves mode mod_wsgi itself on this host (modules, daemon processes,
uploads, check mode, the verify playbook)."""

from tests.integration.upload_checks import LISTEN_PORT, UWSGI_PORT, listening_ports


def test_uwsgi_is_gone(host):
    assert not host.file("/etc/systemd/system/glance-uwsgi.service").exists
    assert not host.file("/etc/uwsgi/glance-uwsgi.ini").exists
    assert host.run("pgrep -x uwsgi-core").rc == 1
    assert "glance-uwsgi" not in host.check_output("systemctl list-units --all --no-legend glance-uwsgi*")
    assert UWSGI_PORT not in listening_ports(host)


def test_apache_listens_once(host):
    listeners = [line for line in host.check_output("ss -Htln").splitlines()
                 if line.split()[3].endswith(":%d" % LISTEN_PORT)]
    assert len(listeners) == 1
