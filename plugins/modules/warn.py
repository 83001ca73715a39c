# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Documentation of the httpd_wsgi.glance.warn action; the work is in plugins/action/warn.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: warn
short_description: Show a warning in the play output
description:
  - Adds O(msg) to the task's warnings, so it appears as C([WARNING]) in the play output and in
    callback plugins that collect warnings. Nothing runs on the managed host.
  - The roles of this collection use it to name the consequences of a choice, such as chunked uploads
    failing in C(glance_wsgi_mode=uwsgi).
version_added: 0.1.0
author:
  - httpd_wsgi.glance maintainers (@httpd-wsgi)
options:
  msg:
    description: The warning.
    type: str
    required: true
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
- name: Warn about a risky setting
  httpd_wsgi.glance.warn:
    msg: Chunked uploads will be refused by Apache in this mode.
"""

RETURN = r"""
msg:
  description: The warning.
  returned: always
  type: str
"""
