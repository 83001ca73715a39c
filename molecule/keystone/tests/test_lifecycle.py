"""What a deploy does to work in flight: a chain reload and a stop of
Glance's uWSGI while a 1 GiB glance-direct import and a 1 GiB web-download
run, and an upload that outlives its Keystone token. Each image must end
`active` with the source's size, md5 and sha512, its staging data gone, and
the reload's journal must show no worker crash (the entry point's exit hook,
templates/uwsgi-app.py.j2)."""

import json
import os
import subprocess
import time

import pytest

from tests.integration.upload_checks import MIB, _ansible_env, record

from glance_api import GlanceClient, GlanceError, file_blocks, random_blocks

from test_keystone import (  # pylint: disable=import-error,unused-import
    ADMIN, GLANCE, MEMBER, STAGING_DIR, WEB, _assert_stored, _sums, token, web)  # noqa: F401

UNIT = "glance-uwsgi"
KEYSTONE_UNIT = "keystone-uwsgi"
BIG = 1024 * MIB


def _journal_since(host, since):
    return host.check_output("journalctl -u %s --since @%d --no-pager -o cat" % (UNIT, since))


def _wait_importing(client, image_id, timeout=60):
    deadline = time.time() + timeout
    while client.get_image(image_id)["status"] != "importing":
        assert time.time() < deadline, client.get_image(image_id)
        time.sleep(0.1)


def _during_import(host, action, start_import, what):
    """Start an import (``start_import(client)`` returns the image ID, the
    source's size, md5 and sha512, and a function that imports it again),
    run ``action`` (reload, or stop then start) on Glance's uWSGI once Glance
    reports the image importing, and prove the outcome the role promises:
    the import finishes with the source's bytes, or it fails cleanly (image
    back to `queued`, the failure recorded, its staging data gone) and
    importing again finishes. No worker crashes, no image stays importing."""
    member = GlanceClient(GLANCE, token=token(MEMBER), timeout=600)
    since = int(host.check_output("date +%s"))
    image_id, size, md5, sha512, again = start_import(member)
    started = time.time()
    _wait_importing(member, image_id)
    host.check_output("systemctl %s %s" % (action, UNIT))
    if action == "stop":
        host.check_output("systemctl start %s" % UNIT)
    acted = time.time() - started
    deadline = time.time() + 600
    while True:
        image = member.get_image(image_id)
        if image["status"] == "active" or image.get("os_glance_failed_import"):
            break
        assert time.time() < deadline, image
        time.sleep(0.5)
    outcome = "finished"
    if image["status"] != "active":
        assert image["status"] == "queued", image
        assert "os_glance_import_task" not in image or not image["os_glance_import_task"], image
        assert not host.file("%s/%s" % (STAGING_DIR, image_id)).exists, "staging data left behind"
        outcome = "failed cleanly (queued, staging removed), imported again"
        again(member, image_id)
        member.wait_for_status(image_id, "active", timeout=600)
    total = time.time() - started
    _assert_stored(host, member, image_id, size, md5, sha512)
    assert not host.file("%s/%s" % (STAGING_DIR, image_id)).exists, "staging data left behind"
    journal = _journal_since(host, since)
    # The workers that left waited for the import (Glance's exit hook), and
    # none of them crashed.
    assert "Gracefully killing worker" in journal
    assert "Waiting for remaining threads in pool" in journal
    assert "Segmentation Fault" not in journal, journal[-3000:]
    assert "DAMN" not in journal, journal[-3000:]
    record("keystone: %s of uWSGI during %s" % (action, what), outcome=outcome,
           action_s=round(acted, 1), total_s=round(total, 1), checksums="match")
    member.delete_image(image_id)
    return outcome


@pytest.fixture(scope="module")
def big_source(tmp_path_factory):
    """1 GiB of random bytes in a file, so that a stage can be sent again."""
    path = tmp_path_factory.mktemp("source") / "big.raw"
    with open(path, "wb") as handle:
        for block in random_blocks(BIG):
            handle.write(block)
    return path


@pytest.mark.parametrize("action", ["reload", "stop"])
def test_a_glance_direct_import_finishes_across(host, action, big_source):
    def start(client):
        image = client.create_image("hwg-direct-%s" % action)
        sent = client.upload(image["id"], file_blocks(big_source), transfer="chunked", target="stage")
        assert sent.status == 204
        client.import_image(image["id"], "glance-direct")

        def again(client, image_id):
            # The staged data is gone with a failed import: stage it again.
            resent = client.upload(image_id, file_blocks(big_source), transfer="chunked", target="stage")
            assert (resent.status, resent.md5) == (204, sent.md5)
            client.import_image(image_id, "glance-direct")

        return image["id"], sent.size, sent.md5, sent.sha512, again

    _during_import(host, action, start, "a 1 GiB glance-direct import")


@pytest.mark.parametrize("action", ["reload", "stop"])
def test_a_web_download_finishes_across(host, action, web):
    if not host.file("/srv/hwg-web/big.raw").exists:
        host.check_output("head -c %d /dev/urandom > /srv/hwg-web/big.raw" % BIG)
    size, md5, sha512 = _sums(host, "/srv/hwg-web/big.raw")

    def start(client):
        image = client.create_image("hwg-web-%s" % action)
        client.import_image(image["id"], "web-download", uri=WEB + "/big.raw")

        def again(client, image_id):
            client.import_image(image_id, "web-download", uri=WEB + "/big.raw")

        return image["id"], size, md5, sha512, again

    _during_import(host, action, start, "a 1 GiB web-download")


def _keystone_token_expiration(host, seconds):
    host.check_output("sed -i 's/^expiration = .*/expiration = %d/' /etc/keystone/keystone.conf"
                      " && systemctl reload %s" % (seconds, KEYSTONE_UNIT))
    assert "expiration = %d" % seconds in host.check_output("grep ^expiration /etc/keystone/keystone.conf")


def test_an_upload_outlives_its_token(host):
    """Keystone's token lifetime is cut to 45 s; an upload sent at 1 MiB/s
    for 64 s with one such token ends active, and the token is refused
    afterwards (it really expired while the body was on its way)."""
    _keystone_token_expiration(host, 45)
    try:
        member_token = token(MEMBER)
        client = GlanceClient(GLANCE, token=member_token, timeout=600)
        image = client.create_image("hwg-token-expiry")
        started = time.time()
        sent = client.upload(image["id"], random_blocks(64 * MIB), transfer="chunked", rate_limit=MIB)
        seconds = time.time() - started
        assert sent.status == 204, sent.body
        assert seconds > 50
        fresh = GlanceClient(GLANCE, token=token(MEMBER), timeout=600)
        fresh.wait_for_status(image["id"], "active")
        _assert_stored(host, fresh, image["id"], sent.size, sent.md5, sent.sha512)
        with pytest.raises(GlanceError) as raised:
            client.get_image(image["id"])
        assert raised.value.status == 401
        record("keystone: upload longer than its token (45 s)", upload_s=round(seconds, 1),
               result="active, checksums match; the token is refused afterwards (401)")
        fresh.delete_image(image["id"])
    finally:
        _keystone_token_expiration(host, 3600)


def _stale_uploads(**args):
    run = subprocess.run(["ansible", "all", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-m",
                          "httpd_wsgi.glance.stale_uploads", "-a", json.dumps(args)],
                         capture_output=True, text=True, timeout=600, env=_ansible_env(), check=False)
    report = json.loads(run.stdout)
    return run.returncode, list(report["plays"][0]["tasks"][0]["hosts"].values())[0]


def _age_task(host, task_id, minutes):
    host.check_output("mysql glance -e \"UPDATE tasks SET updated_at = updated_at - INTERVAL %d MINUTE"
                      " WHERE id = '%s'\"" % (minutes, task_id))


def test_stale_uploads_deletes_an_import_whose_workers_were_killed(host, big_source):
    """SIGKILL of every uWSGI worker while a glance-direct import runs: the
    image stays `importing`, a state Glance accepts no new import from.
    stale_uploads leaves it while its task is younger than older_than,
    reports it in a dry run, then deletes it, with its staged data. The
    task's last update is moved back in the database to stand for the time
    that passes."""
    member = GlanceClient(GLANCE, token=token(MEMBER), timeout=600)
    image = member.create_image("hwg-killed-import")
    sent = member.upload(image["id"], file_blocks(big_source), transfer="chunked", target="stage")
    assert sent.status == 204
    partial = "/var/lib/glance/images/%s" % image["id"]
    member.import_image(image["id"], "glance-direct")
    _wait_importing(member, image["id"])
    # Kill once the import has begun writing to the store: "importing" comes
    # a moment before the first byte reaches it.
    master = host.check_output("systemctl show --property=MainPID --value %s" % UNIT)
    host.check_output("timeout 60 sh -c 'until [ -s %s ]; do sleep 0.05; done' && pkill -9 -P %s"
                      % (partial, master))
    time.sleep(5)
    stuck = member.get_image(image["id"])
    assert stuck["status"] == "importing" and stuck["os_glance_import_task"], stuck
    task_id = stuck["os_glance_import_task"]
    # Glance refuses to import it again: the image can only stay as it is.
    with pytest.raises(GlanceError) as raised:
        member.import_image(image["id"], "glance-direct")
    assert raised.value.status == 409
    common = dict(endpoint=GLANCE, token=token(ADMIN), older_than=600)

    rc, result = _stale_uploads(dry_run=False, **common)
    assert rc == 0 and image["id"] not in [e["id"] for e in result["stuck_imports"]], result

    # The killed import left part of the image in the store, too.
    assert host.file(partial).exists
    _age_task(host, task_id, 30)
    host.check_output("touch -d '-30 min' %s" % partial)
    rc, result = _stale_uploads(dry_run=True, **common)
    entry = [e for e in result["stuck_imports"] if e["id"] == image["id"]]
    assert rc == 0 and entry and not entry[0]["deleted"], result
    assert (entry[0]["method"], entry[0]["task"], entry[0]["task_status"]) == ("glance-direct", task_id, "processing")
    assert 1790 <= entry[0]["age_s"] < 1900
    assert member.get_image(image["id"])["status"] == "importing"

    rc, result = _stale_uploads(dry_run=False, **common)
    assert rc == 0 and result["changed"], result
    assert [e["deleted"] for e in result["stuck_imports"] if e["id"] == image["id"]] == [True]
    with pytest.raises(GlanceError) as raised:
        member.get_image(image["id"])
    assert raised.value.status == 404
    assert not host.file("%s/%s" % (STAGING_DIR, image["id"])).exists
    # Once the image is gone, its partial store file has no owner.
    assert [e["removed"] for e in result["orphan_files"] if e["path"] == partial] == [True], result
    assert not host.file(partial).exists
    record("keystone: stale_uploads on an import whose workers were killed (SIGKILL)",
           glance_reimport=409, stale_uploads="deleted the image, its staged data and its partial store file")
