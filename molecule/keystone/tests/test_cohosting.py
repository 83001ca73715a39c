"""One Apache, several WSGI services: Keystone (keystone_site.yml: the
uwsgi_service and apache_proxy roles, nothing of Glance's) and Glance
(glance_wsgi) share the scenario's Apache. Converging either again changes
nothing of the other (files, Listen lines, processes); a Keystone uWSGI
change restarts only Keystone's uWSGI; an Apache change made for Keystone
lets a Glance upload in flight finish; a third site comes and goes without
touching the other two. Runs first in the scenario and leaves every setting
as it found it."""

import json
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.integration.upload_checks import MIB, enabled_apache_modules, record  # noqa: F401

from glance_api import GlanceClient, random_blocks

from test_keystone import GLANCE, KEYSTONE, MEMBER, _assert_stored, token  # pylint: disable=import-error

SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
LISTEN_FILE = "/etc/apache2/conf-available/apache-proxy-listen.conf"
EXTRA_PORT = 29691
FILES = {
    "glance": ["/etc/apache2/sites-available/glance-api.conf", "/etc/uwsgi/glance-uwsgi.ini",
               "/etc/glance/glance-api.conf", "/etc/systemd/system/glance-uwsgi.service"],
    "keystone": ["/etc/apache2/sites-available/keystone.conf", "/etc/uwsgi/keystone-uwsgi.ini",
                 "/etc/systemd/system/keystone-uwsgi.service"],
}


def _play(playbook, extra=None):
    """Runs a playbook against the scenario's host; returns (rc, changed, output)."""
    argv = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook)]
    if extra:
        argv += ["-e", json.dumps(extra)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    recap = re.findall(r"changed=(\d+)", run.stdout.split("PLAY RECAP")[-1])
    output = (run.stdout + run.stderr)[-4000:]
    assert recap, output
    return run.returncode, int(recap[0]), output


def _keystone(extra=None):
    return _play(SCENARIO / "keystone_site.yml", extra)


def _glance():
    return _play(SCENARIO.parent / "shared" / "converge.yml")


def _pids(host):
    """Main PIDs of Apache and of both uWSGI services, and the uWSGI
    workers' (Apache's own children come and go with its load)."""
    pids = {}
    for unit in ("apache2", "glance-uwsgi", "keystone-uwsgi"):
        main = host.check_output("systemctl show -p MainPID --value %s" % unit).strip()
        workers = [] if unit == "apache2" else sorted(host.check_output("pgrep -P %s || true" % main).split())
        pids[unit] = (main, workers)
    return pids


def _md5s(host, group):
    return {path: host.file(path).md5sum for path in FILES[group]}


def _listen_lines(host):
    return [line for line in host.file(LISTEN_FILE).content_string.splitlines() if line.startswith("Listen")]


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, dict(response.headers)


def _answers(url):
    try:
        return _get(url)[0]
    except urllib.error.HTTPError as error:
        return error.code


def test_both_answer_through_one_apache_with_their_own_listen_lines(host):
    assert _get(KEYSTONE)[0] == 200
    assert _answers(GLANCE + "/") == 300
    assert _listen_lines(host) == ["Listen 127.0.0.1:29692", "Listen 127.0.0.1:29695"]
    assert host.file("/etc/apache2/conf-enabled/apache-proxy-listen.conf").is_symlink
    sites = host.check_output("ls /etc/apache2/apache-proxy-sites").split()
    assert sites == ["modules.json", "site-glance-api.json", "site-keystone.json"], sites
    # The stock Listen 80 is commented out because the scenario asks for it.
    assert not host.socket("tcp://0.0.0.0:80").is_listening


def test_converging_either_again_leaves_the_other_alone(host):
    pids, glance_files, keystone_files = _pids(host), _md5s(host, "glance"), _md5s(host, "keystone")
    rc, changed, output = _keystone()
    assert rc == 0 and changed == 0, output
    rc, changed, output = _glance()
    assert rc == 0 and changed == 0, output
    assert _pids(host) == pids
    assert _md5s(host, "glance") == glance_files
    assert _md5s(host, "keystone") == keystone_files
    record("co-hosting: converge again", result="keystone changed=0, glance changed=0, PIDs %s" % json.dumps(pids))


def test_a_keystone_uwsgi_change_restarts_only_keystones_uwsgi(host):
    before, glance_files = _pids(host), _md5s(host, "glance")
    try:
        rc, changed, output = _keystone({"hwg_keystone_uwsgi_options": {"harakiri": 300}})
        assert rc == 0 and changed > 0, output
        after = _pids(host)
        assert "harakiri = 300" in host.file("/etc/uwsgi/keystone-uwsgi.ini").content_string
        assert after["keystone-uwsgi"] != before["keystone-uwsgi"]
        assert after["glance-uwsgi"] == before["glance-uwsgi"]
        assert after["apache2"] == before["apache2"]
        assert _md5s(host, "glance") == glance_files
        assert _get(KEYSTONE)[0] == 200 and token(MEMBER)
        record("co-hosting: keystone uWSGI option", result="keystone-uwsgi %s -> %s; glance-uwsgi %s and apache2 %s kept"
               % (before["keystone-uwsgi"][0], after["keystone-uwsgi"][0], after["glance-uwsgi"][0],
                  after["apache2"][0]))
    finally:
        rc, _changed, output = _keystone()
        assert rc == 0, output


def test_an_apache_change_for_keystone_lets_a_glance_upload_finish(host):
    """A graceful reload of the shared Apache, made for Keystone's site,
    while a Glance upload runs through the same Apache."""
    member = GlanceClient(GLANCE, token=token(MEMBER), timeout=600)
    image = member.create_image("hwg-cohosting-in-flight")
    # 64 s at 3 MiB/s: longer than the playbook and its reload.
    size = 192 * MIB
    done = {}
    sender = threading.Thread(target=lambda: done.update(result=member.upload(
        image["id"], random_blocks(size), transfer="chunked", size=size, rate_limit=3 * MIB)))
    apache_before = _pids(host)["apache2"][0]
    sender.start()
    try:
        time.sleep(2)
        rc, changed, output = _keystone({"hwg_keystone_apache_directives": ["Header always set X-Hwg-Cohost yes"]})
        assert rc == 0 and changed > 0, output
        assert sender.is_alive(), "the upload ended before the reload: make it slower"
        sender.join(timeout=300)
        result = done["result"]
        assert result.status == 204, result.body
        member.wait_for_status(image["id"], "active")
        _assert_stored(host, member, image["id"], size, result.md5, result.sha512)
        assert _get(KEYSTONE)[1].get("X-Hwg-Cohost") == "yes"
        assert _pids(host)["apache2"][0] == apache_before
        record("co-hosting: Apache reload for keystone during a glance upload",
               result="upload of %d MiB answered 204, checksums match" % (size // MIB))
    finally:
        sender.join(timeout=300)
        member.delete_image(image["id"])
        rc, _changed, output = _keystone()
        assert rc == 0, output
    assert "X-Hwg-Cohost" not in _get(KEYSTONE)[1]


EXTRA_SITE = """
- name: A third site on the shared Apache
  hosts: all
  become: true
  tasks:
    - name: The site
      ansible.builtin.include_role:
        name: httpd_wsgi.glance.apache_proxy
      vars:
        apache_proxy_site_name: hwg-extra
        apache_proxy_state: %s
        apache_proxy_listen_address: 127.0.0.1
        apache_proxy_listen_port: %d
        apache_proxy_backend_url: http://127.0.0.1:29696/
        apache_proxy_modules: [info]
"""


def test_a_third_site_comes_and_goes_alone(host):
    """A site with a module no other site needs (mod_info): present, it
    adds its Listen line and the module; absent, it takes only those away."""
    assert "info" not in enabled_apache_modules(host)
    uwsgi = {unit: pids for unit, pids in _pids(host).items() if unit != "apache2"}
    glance_files, keystone_files = _md5s(host, "glance"), _md5s(host, "keystone")
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "extra.yml"
        playbook.write_text(EXTRA_SITE % ("present", EXTRA_PORT), encoding="utf-8")
        rc, changed, output = _play(playbook)
        assert rc == 0 and changed > 0, output
        assert _listen_lines(host) == ["Listen 127.0.0.1:29691", "Listen 127.0.0.1:29692", "Listen 127.0.0.1:29695"]
        assert "info" in enabled_apache_modules(host)
        assert _get("http://127.0.0.1:%d/v3" % EXTRA_PORT)[0] == 200
        rc, changed, output = _play(playbook)
        assert rc == 0 and changed == 0, output
        playbook.write_text(EXTRA_SITE % ("absent", EXTRA_PORT), encoding="utf-8")
        rc, changed, output = _play(playbook)
        assert rc == 0 and changed > 0, output
    assert _listen_lines(host) == ["Listen 127.0.0.1:29692", "Listen 127.0.0.1:29695"]
    assert "info" not in enabled_apache_modules(host)
    assert not host.file("/etc/apache2/sites-enabled/hwg-extra.conf").exists
    assert not host.file("/etc/apache2/sites-available/hwg-extra.conf").exists
    assert not host.file("/etc/apache2/apache-proxy-sites/site-hwg-extra.json").exists
    assert not host.socket("tcp://127.0.0.1:%d" % EXTRA_PORT).is_listening
    assert {"proxy", "proxy_http", "headers"} <= enabled_apache_modules(host)
    assert _get(KEYSTONE)[0] == 200 and _answers(GLANCE + "/") == 300
    assert {unit: pids for unit, pids in _pids(host).items() if unit != "apache2"} == uwsgi
    assert _md5s(host, "glance") == glance_files and _md5s(host, "keystone") == keystone_files


ONE_PLAY = """
- name: Keystone and Glance in one play
  hosts: all
  become: true
  vars:
    hwg_keystone_uwsgi_options: %s
    hwg_keystone_apache_directives: []
  tasks:
    - name: Serve Keystone
      ansible.builtin.include_tasks: %s
    - name: Serve Glance
      ansible.builtin.include_role:
        name: httpd_wsgi.glance.glance_wsgi
"""


def test_in_one_play_a_keystone_change_still_restarts_only_keystone(host):
    """Both instances of each helper role in the same play (a play has one
    copy of a role's handlers, run with the last instance's variables: the
    roles must not lean on them for what belongs to one instance)."""
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "one-play.yml"
        tasks = SCENARIO / "keystone_site_tasks.yml"
        playbook.write_text(ONE_PLAY % ("{}", tasks), encoding="utf-8")
        rc, changed, output = _play(playbook)
        assert rc == 0 and changed == 0, output
        before, glance_files = _pids(host), _md5s(host, "glance")
        try:
            playbook.write_text(ONE_PLAY % ('{"harakiri": 300}', tasks), encoding="utf-8")
            rc, changed, output = _play(playbook)
            assert rc == 0 and changed > 0, output
            after = _pids(host)
            assert after["keystone-uwsgi"][0] != before["keystone-uwsgi"][0]
            assert after["glance-uwsgi"] == before["glance-uwsgi"]
            assert after["apache2"] == before["apache2"]
            assert _md5s(host, "glance") == glance_files
            record("co-hosting: one play, keystone uWSGI option",
                   result="keystone-uwsgi %s -> %s; glance-uwsgi %s kept" % (
                       before["keystone-uwsgi"][0], after["keystone-uwsgi"][0], after["glance-uwsgi"][0]))
        finally:
            playbook.write_text(ONE_PLAY % ("{}", tasks), encoding="utf-8")
            rc, _changed, output = _play(playbook)
            assert rc == 0, output
