#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: stale_uploads
short_description: Find and remove Glance images stuck in saving or queued, and store files no image owns
description:
  - Lists the images Glance has in the O(statuses) given (by default C(saving) and C(queued)) whose
    last update is older than O(older_than) seconds, and deletes them through the Glance v2 API.
  - Then lists the files of the filesystem store directory O(store_dir) whose name is no image's ID
    and whose last change is older than O(older_than) seconds (the partial data an interrupted
    upload leaves when Glance does not clean up after it), and removes them.
  - With O(dry_run) (the default) or in check mode it only reports what it would remove.
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
    description: Keystone token sent as C(X-Auth-Token); it must see every project's images.
    type: str
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle for the endpoint's certificate.
    type: path
  statuses:
    description: Image statuses that count as a stuck upload.
    type: list
    elements: str
    default: [saving, queued]
  older_than:
    description:
      - Seconds since the image's last update (or the file's last change) before it counts as stale.
      - Keep it above the longest upload you accept; an upload in progress updates neither.
    type: int
    default: 86400
  store_dir:
    description: The filesystem store's directory; empty skips the search for files no image owns.
    type: path
    default: /var/lib/glance/images
  dry_run:
    description: Only report.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each API answer.
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
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.httpd_wsgi.glance.plugins.module_utils.glance_api import GlanceClient, GlanceError


def _age(image, now):
    stamp = image.get("updated_at") or image.get("created_at")
    return int(now - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def run_module(module):
    params = module.params
    remove = not (params["dry_run"] or module.check_mode)
    client = GlanceClient(params["endpoint"], token=params["token"], timeout=params["timeout"],
                          validate_certs=params["validate_certs"], ca_path=params["ca_path"])
    now = time.time()
    stale = []
    for status in params["statuses"]:
        for image in client.list_images(status=status):
            age = _age(image, now)
            if image.get("status") == status and age >= params["older_than"]:
                stale.append(dict(id=image["id"], name=image.get("name"), status=status, age_s=age,
                                  size=image.get("size"), deleted=False))
    for entry in stale:
        if remove:
            client.delete_image(entry["id"])
            entry["deleted"] = True

    orphans = []
    store = params["store_dir"]
    if store:
        if not os.path.isdir(store):
            module.fail_json(msg="store_dir %s is not a directory" % store, stale_images=stale, orphan_files=[])
        # Listed after the deletions, so the files of images just deleted count too.
        owned = set(image["id"] for image in client.list_images())
        for name in sorted(os.listdir(store)):
            path = os.path.join(store, name)
            if name in owned or not os.path.isfile(path):
                continue
            info = os.stat(path)
            age = int(now - info.st_mtime)
            if age < params["older_than"]:
                continue
            entry = dict(path=path, bytes=info.st_size, age_s=age, removed=False)
            if remove:
                os.unlink(path)
                entry["removed"] = True
            orphans.append(entry)

    found = bool(stale or orphans)
    verb = "removed" if remove else "would remove"
    module.exit_json(
        changed=found, stale_images=stale, orphan_files=orphans,
        msg="%s %d stale image(s) and %d orphaned file(s) (%d bytes)" % (
            verb, len(stale), len(orphans), sum(entry["bytes"] for entry in orphans)))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoint=dict(type="str", required=True),
            token=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            statuses=dict(type="list", elements="str", default=["saving", "queued"]),
            older_than=dict(type="int", default=86400),
            store_dir=dict(type="path", default="/var/lib/glance/images"),
            dry_run=dict(type="bool", default=True),
            timeout=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    try:
        run_module(module)
    except (GlanceError, OSError, ValueError) as error:
        module.fail_json(msg=str(error), exception=traceback.format_exc())


if __name__ == "__main__":
    main()
