# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Documentation of the httpd_wsgi.glance.check_settings action; the work is in plugins/action/check_settings.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: check_settings
short_description: Check numbers against their bounds, paths for being absolute and URLs for their scheme
description:
  - Fails with one message that names every setting out of its bounds, every path that is not absolute
    and every URL without an C(http://) or C(https://) scheme and a host. Nothing runs on the managed host.
  - The roles of this collection run it first, before anything changes, over tables that list every count,
    size, port, timeout, path and URL they take (a unit test checks that the tables cover the argument specs).
version_added: 0.2.0
author:
  - httpd_wsgi.glance maintainers (@httpd-wsgi)
options:
  numbers:
    description:
      - "C({name: [value, lower, upper]}); each value must be a whole number within the bounds
        (C(upper) null for none)."
    type: dict
    default: {}
  paths:
    description: "C({name: value}); each value (or each item of a list) must be empty or an absolute path."
    type: dict
    default: {}
  urls:
    description: "C({name: value}); each value must be empty or an C(http://) or C(https://) URL with a host."
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Works the same in check mode.
  diff_mode:
    support: none
    description: Has nothing to show as a diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller only.
"""

EXAMPLES = r"""
- name: Check numbers, paths and URLs
  httpd_wsgi.glance.check_settings:
    numbers:
      my_processes: ["{{ my_processes }}", 1, 1024]
    paths:
      my_state_dir: "{{ my_state_dir }}"
    urls:
      my_auth_url: "{{ my_auth_url }}"
"""

RETURN = r"""
problems:
  description: One sentence for each setting that is wrong.
  returned: always
  type: list
  elements: str
"""
