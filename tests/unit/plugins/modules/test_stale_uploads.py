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
    assert "would remove 2 stale image(s), 0 stuck import(s) and 1 orphaned file(s) (7 bytes)" == result["msg"]
    assert result["stuck_imports"] == []


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


def _owned(glance, store, visibility, owner="admin-project", status="active"):
    image_id = _image(glance, status, 2 * DAY)
    glance.images[image_id].update(visibility=visibility, owner=owner)
    return image_id, _file(store, image_id, 2 * DAY)


def test_images_of_every_visibility_and_project_keep_their_data(run_playbook, glance, tmp_path):
    """Community images are not in a plain GET /v2/images, and another
    project's private image only in an admin's list: none of their data may
    look orphaned."""
    store = tmp_path / "images"
    store.mkdir()
    kept = [_owned(glance, store, "community"), _owned(glance, store, "private", owner="other-project"),
            _owned(glance, store, "shared", owner="other-project"), _owned(glance, store, "public")]
    orphan = _file(store, "deadbeef-0000-0000-0000-000000000000", 2 * DAY, 7)
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "dry_run": False})
    assert rc == 0, result
    assert [entry["path"] for entry in result["orphan_files"]] == [str(orphan)]
    assert all(path.exists() for _image_id, path in kept) and not orphan.exists()
    assert len(glance.images) == 4


def test_a_file_glance_still_knows_is_kept(run_playbook, glance, tmp_path):
    """A file is removed only when Glance answers 404 for its ID: an image
    the list missed (created after it was read) keeps its data."""
    store = tmp_path / "images"
    store.mkdir()
    image_id, path = _owned(glance, store, "private")
    glance.hidden_from_list.add(image_id)
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "dry_run": False})
    assert rc == 0, result
    assert result["orphan_files"] == [] and path.exists()


def test_a_token_that_cannot_see_every_project_is_refused(run_playbook, glance, scene):
    store, _ids, files = scene
    glance.require_token = True
    glance.admin = False
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "dry_run": False,
                                     "token": "member-token"})
    assert rc != 0
    assert "cannot see every project's images" in result["msg"] and "403" in result["msg"]
    assert len(glance.images) == 4 and all(path.exists() for path in files.values())


def test_an_admin_token_behind_keystone_is_taken(run_playbook, glance, scene):
    store, ids, _files = scene
    glance.require_token = True
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "token": "admin-token"})
    assert rc == 0, result
    assert sorted(entry["id"] for entry in result["stale_images"]) == sorted([ids["old_saving"], ids["old_queued"]])


def test_behind_keystone_no_token_is_refused(run_playbook, glance, scene):
    store, _ids, files = scene
    glance.require_token = True
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "dry_run": False})
    assert rc != 0 and "asks for a Keystone token" in result["msg"]
    assert len(glance.images) == 4 and all(path.exists() for path in files.values())


@pytest.mark.parametrize("args, message", [
    ({"statuses": ["active"]}, "value of statuses must be one or more of"),
    ({"statuses": ["saving", "deactivated"]}, "value of statuses must be one or more of"),
    ({"statuses": []}, "statuses must name at least one"),
    ({"older_than": 0}, "older_than must be between 60"),
    ({"older_than": -5}, "older_than must be between 60"),
    ({"older_than": 10 ** 9}, "older_than must be between 60"),
    ({"timeout": 0}, "timeout must be more than 0"),
    ({"store_dir": "relative/images"}, "store_dir must be an absolute path"),
    ({"endpoint": "ftp://127.0.0.1:9292"}, "endpoint must be an http:// or https:// URL"),
    ({"endpoint": "http://:9292"}, "endpoint has no host"),
])
def test_bad_parameters_are_refused_before_anything_is_removed(run_playbook, glance, scene, args, message):
    store, _ids, files = scene
    rc, result = _run(run_playbook, dict({"endpoint": glance.endpoint, "store_dir": str(store),
                                          "dry_run": False}, **args))
    assert rc != 0
    assert message in result["msg"], result["msg"]
    assert len(glance.images) == 4 and all(path.exists() for path in files.values())


def test_a_failure_after_removals_still_reports_them(run_playbook, glance, scene):
    store, ids, files = scene
    second = _file(store, "feedbeef-0000-0000-0000-000000000000", 2 * DAY, 5)
    # The orphans are handled in name order: deadbeef (removed), then
    # feedbeef, whose check fails.
    glance.fail_get.add("feedbeef-0000-0000-0000-000000000000")
    rc, result = _run(run_playbook, {"endpoint": glance.endpoint, "store_dir": str(store), "dry_run": False})
    assert rc != 0 and result["changed"]
    assert "already done before the failure" in result["msg"]
    assert sorted(entry["id"] for entry in result["stale_images"] if entry["deleted"]) == sorted(
        [ids["old_saving"], ids["old_queued"]])
    assert str(files["orphan_old"]) in [entry["path"] for entry in result["orphan_files"] if entry["removed"]]
    assert second.exists()
