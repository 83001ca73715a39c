"""Interoperable image import in each mode, with real tokens: the scenario's
host (mode http) is converged to mode uwsgi, then to mode mod_wsgi, with
Keystone still on the same Apache, and each method runs through Apache.
Each row of the table printed at the end (docs/import.md) is one call of
this file: glance-direct with a chunked stage (what glanceclient and
openstackclient send) and with a Content-Length stage, web-download and
copy-image, each proven by size, md5 and sha512 in the store and on
download. It leaves the host in mode mod_wsgi; only test_readme.py runs after it."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.upload_checks import MIB, record

from glance_api import GlanceClient, GlanceError, random_blocks

from test_keystone import (  # pylint: disable=import-error,unused-import
    ADMIN, GLANCE, MEMBER, STAGING_DIR, _assert_stored, _sums, copy_to_cold, token, web)  # noqa: F401

MODES = ("http", "uwsgi", "mod_wsgi")
TABLE = {}


def _converge(mode, **more):
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    extra = {"glance_wsgi_mode": mode}
    extra.update(more)
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(extra),
         str(scenario.parent / "shared" / "converge.yml")],
        capture_output=True, text=True, timeout=1800, check=False)


def test_readiness_fails_when_the_api_offers_other_import_methods(host):
    """The converge's last word is the API's: an override that leaves Glance
    offering fewer import methods than glance_wsgi_import_methods (here
    glance-direct only) fails the play at the readiness check, with what
    /v2/info/import answered. Runs first; the next converge restores."""
    bad = _converge("http", glance_wsgi_config_overrides={"DEFAULT": {"enabled_import_methods": "[glance-direct]"}})
    try:
        # The failure's message, its JSON quotes unescaped.
        out = (bad.stdout + bad.stderr).replace('\\"', '"')
        assert bad.returncode != 0, out[-3000:]
        assert "Stop here unless the API offers exactly the import methods asked for" in out, out[-3000:]
        assert "answered 200" in out and '"value": ["glance-direct"]' in out, out[-3000:]
        assert "asked for the import methods glance-direct, web-download, copy-image" in out, out[-3000:]
        offered = GlanceClient(GLANCE, token=token(ADMIN)).request("GET", "/v2/info/import")[1]
        assert offered["import-methods"]["value"] == ["glance-direct"]
    finally:
        good = _converge("http")
        assert good.returncode == 0, (good.stdout + good.stderr)[-4000:]
    offered = GlanceClient(GLANCE, token=token(ADMIN)).request("GET", "/v2/info/import")[1]
    assert sorted(offered["import-methods"]["value"]) == ["copy-image", "glance-direct", "web-download"]


@pytest.fixture(scope="module", params=MODES)
def mode(request, host):
    # The scenario's converge left mode http; a run of this file alone may
    # find another.
    in_http_mode = host.run("grep -q '^http-socket' /etc/uwsgi/glance-uwsgi.ini"
                            " && systemctl is-active glance-uwsgi").rc == 0
    if request.param != "http" or not in_http_mode:
        run = _converge(request.param)
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    # Keystone behind the same Apache still answers.
    assert token(ADMIN)
    return request.param


def _cell(mode, method, value):
    TABLE.setdefault(method, {})[mode] = value
    record("import in mode %s: %s" % (mode, method), result=value)


def _glance_direct(host, mode, transfer):
    member = GlanceClient(GLANCE, token=token(MEMBER), timeout=600)
    image = member.create_image("hwg-%s-direct-%s" % (mode, transfer))
    size = 48 * MIB
    try:
        staged = member.upload(image["id"], random_blocks(size), transfer=transfer, size=size, target="stage")
    except GlanceError as error:
        staged = error
    if getattr(staged, "status", None) != 204:
        status = getattr(staged, "status", None)
        # A refused stage leaves the image where a new attempt can start.
        assert member.get_image(image["id"])["status"] == "queued"
        member.delete_image(image["id"])
        return "stage answered %s" % status
    started = time.time()
    member.import_image(image["id"], "glance-direct")
    member.wait_for_status(image["id"], "active", timeout=300)
    _assert_stored(host, member, image["id"], staged.size, staged.md5, staged.sha512)
    assert not host.file("%s/%s" % (STAGING_DIR, image["id"])).exists, "staging data left behind"
    member.delete_image(image["id"])
    return "works (stage %.0f MiB/s, import %.1f s)" % (staged.mib_per_second, time.time() - started)


def test_glance_direct_chunked_stage(host, mode):
    result = _glance_direct(host, mode, "chunked")
    _cell(mode, "glance-direct, chunked stage", result)
    # Mode uwsgi too: the chunked stage goes to uWSGI's loopback
    # http-socket (httpd's mod_proxy_uwsgi would answer 411).
    assert result.startswith("works")


def test_glance_direct_content_length_stage(host, mode):
    result = _glance_direct(host, mode, "content_length")
    _cell(mode, "glance-direct, Content-Length stage", result)
    assert result.startswith("works")


def test_web_download(host, mode, web):
    member = GlanceClient(GLANCE, token=token(MEMBER), timeout=600)
    size, md5, sha512 = _sums(host, "/srv/hwg-web/random.raw")
    image = member.create_image("hwg-%s-web-download" % mode)
    started = time.time()
    member.import_image(image["id"], "web-download", uri=web + "/random.raw")
    member.wait_for_status(image["id"], "active", timeout=300)
    _assert_stored(host, member, image["id"], size, md5, sha512)
    member.delete_image(image["id"])
    _cell(mode, "web-download", "works (%.1f s for %d MiB)" % (time.time() - started, size // MIB))


def test_copy_image(host, mode):
    member = GlanceClient(GLANCE, token=token(MEMBER), timeout=600)
    admin = GlanceClient(GLANCE, token=token(ADMIN), timeout=600)
    image = member.create_image("hwg-%s-copy-image" % mode)
    sent = member.upload(image["id"], random_blocks(16 * MIB), transfer="content_length", size=16 * MIB)
    assert sent.status == 204
    member.wait_for_status(image["id"], "active")
    started = time.time()
    copy_to_cold(host, admin, image["id"], sent)
    admin.delete_image(image["id"])
    _cell(mode, "copy-image (admin)", "works (%.1f s for 16 MiB)" % (time.time() - started))


def terminal_report(terminalreporter):
    """The measured table for docs/import.md (molecule/conftest.py prints it)."""
    lines = mode_table()
    if lines:
        terminalreporter.section("interoperable image import per mode")
        for line in lines:
            terminalreporter.write_line(line)


def mode_table():
    if not TABLE:
        return []
    lines = ["| method | " + " | ".join("mode `%s`" % m for m in MODES) + " |",
             "| --- |" + " --- |" * len(MODES)]
    for method, cells in TABLE.items():
        lines.append("| %s | %s |" % (method, " | ".join(cells.get(m, "not run") for m in MODES)))
    return lines
