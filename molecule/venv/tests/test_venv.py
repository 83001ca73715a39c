"""A Debian 12 host that ran Debian's Glance 25.1 packages, then Glance
32.0.0 from PyPI, was converged to Glance 33.0.0 from PyPI: Glance and uWSGI
now run from the new virtualenv, neither the packaged pieces nor the old
virtualenv's uWSGI run, Apache was not restarted by either switch, the
database was upgraded, and the image uploaded under 25.1 is intact."""

import json

from tests.integration.upload_checks import (  # noqa: F401
    APACHE, IMAGE_DIR, MIB, assert_verify_playbook_passes, check_mode_changes_nothing,
    curl_chunked_expect_check, listening_ports, upload_and_check)

from glance_api import GlanceClient

GLANCE_VERSION = "33.0.0"
UWSGI_VERSION = "2.0.31"
VENV = "/opt/glance/glance-%s" % GLANCE_VERSION
INI = "/etc/uwsgi/glance-uwsgi.ini"
UPLOAD_SIZE = 64 * MIB


def _before(host):
    return json.loads(host.file("/root/hwg-before-switch.json").content_string)


def _uwsgi_master_pid(host):
    return int(host.check_output("systemctl show --property=MainPID --value glance-uwsgi.service"))


def test_glance_and_uwsgi_versions_in_the_venv(host):
    versions = host.check_output(
        "%s/bin/python3 -c \"import importlib.metadata as m; print(m.version('glance'), m.version('uWSGI'))\"" % VENV)
    assert versions.split() == [GLANCE_VERSION, UWSGI_VERSION]


def test_venv_is_owned_by_root_and_read_only_for_glance(host):
    venv = host.file(VENV)
    assert venv.user == "root" and venv.group == "root"
    assert host.run("runuser -u glance -- test -w %s/lib" % VENV).rc == 1
    assert host.run("runuser -u glance -- %s/bin/python3 -c 'import glance'" % VENV).rc == 0


def test_uwsgi_runs_the_venv_with_the_module_entry_point(host):
    ini = host.file(INI).content_string
    # uWSGI loads the role's entry point (Glance's exit hook run safely),
    # which imports Glance's WSGI module from the virtualenv.
    assert "wsgi-file = /usr/local/share/glance-wsgi/uwsgi-app.py" in ini.splitlines()
    assert "skip-atexit-teardown = true" in ini.splitlines()
    entry = host.file("/usr/local/share/glance-wsgi/uwsgi-app.py").content_string
    assert "from glance.wsgi.api import application as application" in entry
    assert "virtualenv = %s" % VENV in ini
    assert "plugins" not in ini and "module =" not in ini
    pid = _uwsgi_master_pid(host)
    # /proc/PID/exe of another user's process needs ptrace rights the
    # container lacks; the command line names the binary systemd started.
    assert host.check_output("tr '\\0' '\\n' < /proc/%d/cmdline | head -n1" % pid) == "%s/bin/uwsgi" % VENV
    assert host.check_output("ps -o user= -p %d" % pid).strip() == "glance"
    # Neither Debian's uWSGI (the package method's) nor the previous
    # release's virtualenv runs anything.
    assert host.run("pgrep -x uwsgi-core").rc == 1
    # The bracket keeps the pattern from matching the shell that runs pgrep.
    assert host.run("pgrep -f '[/]opt/glance/glance-32.0.0/'").rc == 1
    assert host.file("/opt/glance/glance-32.0.0/bin/uwsgi").exists


def test_packaged_glance_api_stays_masked(host):
    assert host.run("systemctl is-enabled glance-api.service").stdout.strip() == "masked"
    assert host.run("systemctl is-active glance-api.service").stdout.strip() == "inactive"
    assert 9292 not in listening_ports(host)


def test_switch_did_not_restart_apache(host):
    assert int(host.file("/run/apache2/apache2.pid").content_string.strip()) == _before(host)["apache_pid"]


def test_database_schema_is_current(host):
    assert host.run("runuser -u glance -- %s/bin/glance-manage db check" % VENV).rc == 0


def test_image_from_before_the_switch_is_intact(host):
    before = _before(host)
    client = GlanceClient(APACHE)
    image = client.get_image(before["image_id"])
    assert image["status"] == "active"
    assert (image["size"], image["checksum"], image["os_hash_value"]) == (
        before["size"], before["md5"], before["sha512"])
    assert host.check_output("sha512sum %s/%s" % (IMAGE_DIR, before["image_id"])).split()[0] == before["sha512"]
    assert client.download(before["image_id"]) == (before["size"], before["md5"], before["sha512"])


def test_paste_pipeline_comes_from_the_installed_release(host):
    installed = host.file("/etc/glance/glance-api-paste.ini")
    assert installed.user == "root" and installed.group == "glance" and installed.mode == 0o640
    assert installed.md5sum == host.file("%s/etc/glance/glance-api-paste.ini" % VENV).md5sum


def test_chunked_upload_through_apache(host):
    upload_and_check(host, APACHE, "venv-chunked", UPLOAD_SIZE)


def test_chunked_upload_with_expect_continue(host):
    result = upload_and_check(host, APACHE, "venv-chunked-expect", UPLOAD_SIZE, expect_continue=True)
    assert result.saw_continue


def test_content_length_upload_through_apache(host):
    upload_and_check(host, APACHE, "venv-content-length", UPLOAD_SIZE, transfer="content_length")


def test_curl_chunked_upload_with_expect_does_not_stall(host, tmp_path):
    curl_chunked_expect_check(tmp_path, APACHE, 32 * MIB, limit=30)


def test_check_mode_reports_no_change(host):
    check_mode_changes_nothing(host, [INI, "/etc/glance/glance-api.conf", "/etc/glance/glance-api-paste.ini",
                                      "/etc/apache2/sites-available/glance-api.conf"])


def test_verify_playbook_uploads_through_the_module(host):
    assert_verify_playbook_passes()
