"""httpd_wsgi.glance.stale_uploads run by ansible-playbook against the
stand-in Glance and a temporary store directory."""

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from glance_stub import StubGlance  # noqa: E402

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Clean up
      httpd_wsgi.glance.stale_uploads: {args}
"""
DAY = 86400


@pytest.fixture
def glance():
    with StubGlance() as server:
        yield server


def _age(glance, image_id, seconds):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds))
    glance.images[image_id].update(created_at=stamp, updated_at=stamp)


def _image(glance, status, age):
    image_id = "%08d-0000-0000-0000-000000000000" % len(glance.images)
    glance.images[image_id] = dict(id=image_id, name="i%d" % len(glance.images), status=status, size=None)
    _age(glance, image_id, age)
    return image_id


def _file(store, name, age, size=10):
    path = store / name
    path.write_bytes(b"x" * size)
    os.utime(path, (time.time() - age, time.time() - age))
    return path


@pytest.fixture
def scene(glance, tmp_path):
    store = tmp_path / "images"
    store.mkdir()
    ids = dict(old_saving=_image(glance, "saving", 2 * DAY), old_queued=_image(glance, "queued", 2 * DAY),
               new_saving=_image(glance, "saving", 60), old_active=_image(glance, "active", 2 * DAY))
    files = dict(saving_partial=_file(store, ids["old_saving"], 2 * DAY, 100),
                 new_partial=_file(store, ids["new_saving"], 60),
                 active=_file(store, ids["old_active"], 2 * DAY),
                 orphan_old=_file(store, "deadbeef-0000-0000-0000-000000000000", 2 * DAY, 7),
                 orphan_new=_file(store, "feedface-0000-0000-0000-000000000000", 60))
    return store, ids, files


def _run(run_playbook, args, check=False):
    process = run_playbook(PLAY.format(args=json.dumps(args)), check=check)
    return process.returncode, json.loads(process.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_dry_run_reports_and_changes_nothing(run_playbook, glance, scene):
    store, ids, files = scene
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store)})
    assert rc == 0, result
    assert result["changed"]
    assert sorted(entry["id"] for entry in result["stale_images"]) == sorted([ids["old_saving"], ids["old_queued"]])
    assert not any(entry["deleted"] for entry in result["stale_images"])
    # The old saving image's partial file is owned while the image exists.
    assert [entry["path"] for entry in result["orphan_files"]] == [str(files["orphan_old"])]
    assert len(glance.images) == 4 and all(path.exists() for path in files.values())
    assert "would remove 2 stale image(s) and 1 orphaned file(s) (7 bytes)" == result["msg"]


def test_removal_deletes_stale_images_then_their_partial_files(run_playbook, glance, scene):
    store, ids, files = scene
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "dry_run": False})
    assert rc == 0, result
    assert set(glance.images) == {ids["new_saving"], ids["old_active"]}
    assert sorted(entry["path"] for entry in result["orphan_files"]) == sorted(
        [str(files["saving_partial"]), str(files["orphan_old"])])
    assert not files["saving_partial"].exists() and not files["orphan_old"].exists()
    assert files["new_partial"].exists() and files["active"].exists() and files["orphan_new"].exists()


def test_check_mode_is_a_dry_run(run_playbook, glance, scene):
    store, _ids, files = scene
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "dry_run": False},
                      check=True)
    assert rc == 0 and result["changed"]
    assert len(glance.images) == 4 and all(path.exists() for path in files.values())


def test_pagination_is_followed(run_playbook, glance, tmp_path):
    for _count in range(450):
        _image(glance, "queued", 2 * DAY)
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": "", "dry_run": False})
    assert rc == 0, result
    assert len(result["stale_images"]) == 450 and glance.images == {}


def test_nothing_stale_is_no_change(run_playbook, glance, tmp_path):
    _image(glance, "saving", 60)
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(tmp_path)})
    assert rc == 0 and not result["changed"]
