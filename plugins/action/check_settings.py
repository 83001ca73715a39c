# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin behind httpd_wsgi.glance.check_settings: bounds, absolute
paths and URL schemes, checked on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

WHOLE = re.compile(r"^\s*-?[0-9]+\s*$")


def number_problem(name, spec):
    if not isinstance(spec, (list, tuple)) or len(spec) != 3:
        raise AnsibleActionFail("numbers.%s must be [value, lower, upper]" % name)
    value, low, high = spec
    bounds = "at least %s" % low if high is None else "between %s and %s" % (low, high)
    if isinstance(value, bool) or not WHOLE.match(str(value)):
        return "%s must be a whole number %s, not %r." % (name, bounds, value)
    number = int(str(value))
    if number < int(low) or (high is not None and number > int(high)):
        return "%s must be %s, not %d." % (name, bounds, number)
    return None


def path_problem(name, value):
    if value in (None, ""):
        return None
    if isinstance(value, (list, tuple)):
        return next((problem for problem in (path_problem(name, item) for item in value) if problem), None)
    if not isinstance(value, str) or not value.startswith("/"):
        return "%s must be an absolute path, not %r." % (name, value)
    return None


def url_problem(name, value):
    if value in (None, ""):
        return None
    try:
        parts = urlsplit(str(value))
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        return "%s must be an http:// or https:// URL with a host (and a valid port), not %r." % (name, value)
    return None


class ActionModule(ActionBase):
    """Fail with every problem found; nothing runs on the host."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("numbers", "paths", "urls"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        problems = []
        for name, spec in sorted((args.get("numbers") or {}).items()):
            problems.append(number_problem(name, spec))
        for name, value in sorted((args.get("paths") or {}).items()):
            problems.append(path_problem(name, value))
        for name, value in sorted((args.get("urls") or {}).items()):
            problems.append(url_problem(name, value))
        problems = [problem for problem in problems if problem]
        result.update(changed=False, problems=problems)
        if problems:
            result.update(failed=True, msg=" ".join(problems))
        else:
            result["msg"] = "all settings within their bounds"
        return result
