#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: stale_uploads
short_description: Find and remove Glance images stuck in an unfinished upload, and store files no image owns
description:
  - Lists every image Glance has (C(visibility=all), every page) in the O(statuses) given (by default
    C(saving) and C(queued)) whose last update is older than O(older_than) seconds, and deletes them
    through the Glance v2 API.
  - Then lists the files of the filesystem store directory O(store_dir) whose name is an image ID that
    no listed image has and whose last change is older than O(older_than) seconds (the partial data an
    interrupted upload leaves when Glance does not clean up after it). Before a file is removed, Glance
    is asked for that ID once more, and the file is removed only when Glance answers 404.
  - The caller must see every project's images, or images it cannot see would look unowned. An API that
    answers without a token has no Keystone, and every request is an admin's. Behind Keystone the token must
    be an admin's (the module checks with C(GET /v2/tasks), which Glance allows to admins only) and is
    refused otherwise.
  - With O(stuck_imports), it also deletes images left C(importing) (or C(uploading) with an import lock) by an
    import task that stopped advancing, whose last update is older than O(older_than) seconds (a worker
    killed by SIGKILL or the OOM killer, a host that lost power). A running import updates its task as it
    goes. Glance accepts no new import for an image in C(importing), so it could only stay there; deleting
    it also removes its staged data. Needs an admin's token (Glance's tasks API).
  - With O(dry_run) (the default) or in check mode it only reports what it would remove.
  - When a step fails, the result still lists what was already deleted or removed.
  - Runs on the Glance host, which must reach the API and, for O(store_dir), read the store.
version_added: 0.2.0
author:
  - httpd_wsgi.glance maintainers (@httpd-wsgi)
options:
  endpoint:
    description: Glance API URL, for example V(http://127.0.0.1:9292).
    type: str
    required: true
  token:
    description: Keystone token sent as C(X-Auth-Token); it must be an admin's, to see every project's images.
    type: str
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle for the endpoint's certificate.
    type: path
  statuses:
    description:
      - Image statuses that count as a stuck upload. Only the states of an upload that never finished are
        accepted; C(active) and the other states of a finished image are refused.
    type: list
    elements: str
    choices: [queued, saving, killed]
    default: [saving, queued]
  older_than:
    description:
      - Seconds since the image's last update (or the file's last change) before it counts as stale.
      - Keep it above the longest upload you accept; an upload in progress updates neither.
      - At least 60 and at most 31536000 (a year).
    type: int
    default: 86400
  store_dir:
    description:
      - The filesystem store's directory (an absolute path); empty skips the search for files no image owns.
    type: path
    default: /var/lib/glance/images
  stuck_imports:
    description: Delete images whose import task stopped advancing (see above); V(false) leaves them alone.
    type: bool
    default: true
  dry_run:
    description: Only report.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each API answer (more than 0, at most 3600).
    type: float
    default: 60
notes:
  - Supports check mode, which reports like O(dry_run).
"""

EXAMPLES = r"""
- name: Report uploads stuck for more than a day, and orphaned store files
  httpd_wsgi.glance.stale_uploads:
    endpoint: http://127.0.0.1:9292

- name: Remove them
  httpd_wsgi.glance.stale_uploads:
    endpoint: http://127.0.0.1:9292
    older_than: 86400
    dry_run: false
"""

RETURN = r"""
stale_images:
  description: Images found stuck, with whether they were deleted.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "6b1c2a2e-8c3e-4e4e-9b5a-0d7d4f5c2a11", "name": "debian", "status": "saving",
            "age_s": 90061, "size": null, "deleted": true}]
stuck_imports:
  description: Images whose import task stopped advancing, with that task, its age and whether they were deleted.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "0b0d5a4e-6a55-4b1e-8a8c-0f3e1f5a9e21", "name": "debian", "status": "importing",
            "task": "4a580f08-3625-450a-81a3-2f29e256cd8c", "task_status": "processing", "age_s": 7260,
            "method": "glance-direct", "deleted": true}]
orphan_files:
  description: Store files no image owns, with their size and whether they were removed.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/var/lib/glance/images/6b1c2a2e-8c3e-4e4e-9b5a-0d7d4f5c2a11", "bytes": 104857600,
            "age_s": 90061, "removed": true}]
"""

import calendar
import os
import re
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.httpd_wsgi.glance.plugins.module_utils.glance_api import GlanceClient, GlanceError

# The states of an upload that never finished. Anything else (active,
# deactivated, importing, ...) is an image someone may still use.
UNFINISHED = ("queued", "saving", "killed")
OLDER_THAN_RANGE = (60, 365 * 86400)
TIMEOUT_RANGE = (0, 3600)
IMAGE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _age(record, now):
    """Seconds since an image's or a task's last update."""
    stamp = record.get("updated_at") or record.get("created_at")
    return int(now - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def check_params(params):
    """Return a message for the first parameter that cannot be right, or None."""
    low, high = OLDER_THAN_RANGE
    if not low <= params["older_than"] <= high:
        return ("older_than must be between %d and %d seconds, got %d: a smaller value would take uploads "
                "that are still running for stale ones" % (low, high, params["older_than"]))
    low, high = TIMEOUT_RANGE
    if not low < params["timeout"] <= high:
        return "timeout must be more than %d and at most %d seconds, got %s" % (low, high, params["timeout"])
    if params["store_dir"] and not os.path.isabs(params["store_dir"]):
        return "store_dir must be an absolute path, got %s" % params["store_dir"]
    if not params["statuses"]:
        return "statuses must name at least one of %s" % ", ".join(UNFINISHED)
    return None


def check_sees_everything(params):
    """Fail unless the caller sees every project's images. An API that
    answers without a token has no Keystone: every request is an admin's.
    Behind Keystone the token must be an admin's: GET /v2/tasks is allowed
    to admins only."""
    anonymous = GlanceClient(params["endpoint"], timeout=params["timeout"],
                             validate_certs=params["validate_certs"], ca_path=params["ca_path"])
    try:
        anonymous.request("GET", "/v2/images?limit=1")
        return
    except GlanceError as error:
        if error.status != 401:
            raise
    if not params["token"]:
        raise GlanceError("the API asks for a Keystone token (401 without one): give an admin's token, which sees "
                          "every project's images", status=401)
    client = GlanceClient(params["endpoint"], token=params["token"], timeout=params["timeout"],
                          validate_certs=params["validate_certs"], ca_path=params["ca_path"])
    try:
        client.request("GET", "/v2/tasks?limit=1")
    except GlanceError as error:
        if error.status in (401, 403):
            raise GlanceError(
                "the token cannot see every project's images (GET /v2/tasks, which Glance allows to admins "
                "only, answered %d): images of other projects would look unowned and their data would be "
                "removed. Use an admin's token." % error.status, status=error.status) from None
        raise


def find_stale_images(client, params, now):
    stale = []
    for status in params["statuses"]:
        for image in client.list_images(status=status):
            age = _age(image, now)
            if image.get("status") == status and age >= params["older_than"]:
                stale.append(dict(id=image["id"], name=image.get("name"), status=status, age_s=age,
                                  size=image.get("size"), deleted=False))
    return stale


def find_stuck_imports(client, params, now):
    """Images importing (or uploading with an import lock) whose import task
    has not been updated for older_than seconds (or no longer exists)."""
    stuck = []
    for status in ("importing", "uploading"):
        for image in client.list_images(status=status):
            task_id = image.get("os_glance_import_task")
            if image.get("status") != status or not task_id:
                continue
            try:
                task = client.request("GET", "/v2/tasks/%s" % task_id)[1]
            except GlanceError as error:
                if error.status != 404:
                    raise
                task = None  # culled: nothing runs it
            age = _age(task or image, now)
            if age < params["older_than"]:
                continue
            request = ((task or {}).get("input") or {}).get("import_req") or {}
            stuck.append(dict(id=image["id"], name=image.get("name"), status=status, task=task_id,
                              task_status=task.get("status") if task else None, age_s=age,
                              method=(request.get("method") or {}).get("name"), deleted=False))
    return stuck


def image_exists(client, image_id):
    try:
        client.get_image(image_id)
    except GlanceError as error:
        if error.status == 404:
            return False
        raise
    return True


def find_orphan_files(client, store, params, now, remove, orphans):
    """Append to ``orphans`` the store files no image owns; remove them
    when ``remove``, each only after Glance answered 404 for its ID."""
    if not os.path.isdir(store):
        raise GlanceError("store_dir %s is not a directory" % store)
    # Listed after the deletions, so the files of images just deleted count too.
    owned = set(image["id"] for image in client.list_images())
    for name in sorted(os.listdir(store)):
        path = os.path.join(store, name)
        if name in owned or not IMAGE_ID.match(name) or not os.path.isfile(path):
            continue
        info = os.stat(path)
        age = int(now - info.st_mtime)
        if age < params["older_than"] or image_exists(client, name):
            continue
        entry = dict(path=path, bytes=info.st_size, age_s=age, removed=False)
        orphans.append(entry)
        if remove:
            os.unlink(path)
            entry["removed"] = True


def run_module(module):
    params = module.params
    problem = check_params(params)
    if problem:
        module.fail_json(msg=problem, stale_images=[], orphan_files=[])
    remove = not (params["dry_run"] or module.check_mode)
    stale, orphans, stuck = [], [], []
    try:
        client = GlanceClient(params["endpoint"], token=params["token"], timeout=params["timeout"],
                              validate_certs=params["validate_certs"], ca_path=params["ca_path"])
        check_sees_everything(params)
        now = time.time()
        stale.extend(find_stale_images(client, params, now))
        for entry in stale:
            if remove:
                client.delete_image(entry["id"])
                entry["deleted"] = True
        if params["stuck_imports"]:
            stuck.extend(find_stuck_imports(client, params, now))
            for entry in stuck:
                if remove:
                    client.delete_image(entry["id"])
                    entry["deleted"] = True
        if params["store_dir"]:
            find_orphan_files(client, params["store_dir"], params, now, remove, orphans)
    except (GlanceError, OSError, ValueError) as error:
        done = (sum(1 for entry in stale + stuck if entry["deleted"])
                + sum(1 for entry in orphans if entry["removed"]))
        module.fail_json(msg="%s%s" % (error, " (already done before the failure: %d, listed in the result)"
                                       % done if done else ""),
                         changed=done > 0, stale_images=stale, orphan_files=orphans, stuck_imports=stuck,
                         exception=traceback.format_exc())

    verb = "removed" if remove else "would remove"
    module.exit_json(
        changed=bool(stale or orphans or stuck), stale_images=stale, orphan_files=orphans, stuck_imports=stuck,
        msg="%s %d stale image(s), %d stuck import(s) and %d orphaned file(s) (%d bytes)" % (
            verb, len(stale), len(stuck), len(orphans), sum(entry["bytes"] for entry in orphans)))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoint=dict(type="str", required=True),
            token=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            statuses=dict(type="list", elements="str", choices=list(UNFINISHED), default=["saving", "queued"]),
            older_than=dict(type="int", default=86400),
            store_dir=dict(type="path", default="/var/lib/glance/images"),
            stuck_imports=dict(type="bool", default=True),
            dry_run=dict(type="bool", default=True),
            timeout=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
