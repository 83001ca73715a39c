# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
"""Keeps the record of the sites the apache_proxy role put on one Apache, and
writes the Listen file that serves all of them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: apache_sites
short_description: Share one Apache between the sites of the apache_proxy role
description:
  - Keeps one record per site that the C(httpd_wsgi.glance.apache_proxy) role manages on a host (its C(Listen)
    addresses and the Apache modules it needs), plus the list of modules the role itself enabled.
  - Writes one C(Listen) file for every recorded site, so that converging one site never drops another
    site's C(Listen), whatever the order of the plays. An address that another file Apache reads already
    declares (the distribution's C(Listen 80), another service's site) is left to that file, because
    Apache refuses two C(Listen) lines for one address; a wildcard C(Listen) on a port covers every
    address on that port.
  - Says which modules may be disabled, which are only the modules the role enabled itself that no recorded
    site needs any more, plus the ones the caller asks to disable that no recorded site needs.
  - Files that an earlier version of the role wrote with only its own C(Listen) lines (the marker line)
    are migrated. Their C(Listen) lines are commented out (the distribution's C(ports.conf)), or the file
    is removed (a role-owned C(Listen) file).
  - Fails, before anything changes, when a site's address cannot be bound next to another file's
    C(Listen) (a wildcard and a single address on the same port).
  - Used by the C(apache_proxy) role; not meant to be called on its own.
version_added: 0.2.0
author:
  - httpd_wsgi.glance maintainers (@httpd-wsgi)
options:
  registry_dir:
    description: Directory of the records (inside Apache's configuration tree, so a rollback of the tree restores it).
    type: path
    required: true
  site:
    description: Name of the site.
    type: str
    required: true
  state:
    description: C(present) records the site; C(absent) forgets it.
    type: str
    choices: [present, absent]
    default: present
  listen:
    description: The site's C(Listen) arguments (C(9292), C(127.0.0.1:9292), C([::1]:9292), C(443 https)).
    type: list
    elements: str
    default: []
  modules:
    description: Apache modules the site needs.
    type: list
    elements: str
    default: []
  enabled_modules:
    description: Modules the role enabled in this run (they join the list of modules the role owns).
    type: list
    elements: str
    default: []
  disable_modules:
    description: Modules the caller asks to disable; disabled only when no recorded site needs them.
    type: list
    elements: str
    default: []
  listen_file:
    description: The C(Listen) file this module writes.
    type: path
    required: true
  scan:
    description: Shell patterns of the files Apache reads that may carry C(Listen) lines.
    type: list
    elements: str
    default: []
  ignore_files:
    description: Files whose C(Listen) lines do not count (the stock ones the role is told to comment out).
    type: list
    elements: path
    default: []
  legacy_marker:
    description: A line that marks a file an earlier version of the role wrote with only its own C(Listen) lines.
    type: str
    default: ""
  legacy_keep_files:
    description: Legacy files whose C(Listen) lines are commented out instead of the file being removed.
    type: list
    elements: path
    default: []
  header:
    description: Comment lines at the top of the C(Listen) file.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: Reports what it would write and disable, and fails on a conflict, without writing.
  diff_mode:
    support: none
    description: The C(Listen) file is small; the result lists its lines.
  platform:
    support: full
    platforms: posix
    description: Runs on the host whose Apache it configures.
"""

EXAMPLES = r"""
- name: Record the site and write the Listen file
  httpd_wsgi.glance.apache_sites:
    registry_dir: /etc/apache2/apache-proxy-sites
    site: keystone
    listen: ["127.0.0.1:5000"]
    modules: [proxy, proxy_http, headers, reqtimeout]
    listen_file: /etc/apache2/conf-available/apache-proxy-listen.conf
    scan: [/etc/apache2/ports.conf, /etc/apache2/conf-enabled/*.conf, /etc/apache2/sites-enabled/*]
"""

RETURN = r"""
listen:
  description: The C(Listen) arguments the file holds (every recorded site's, minus those declared elsewhere).
  returned: always
  type: list
  elements: str
declared_elsewhere:
  description: "C({argument: file}) for each address of a recorded site that another file already declares."
  returned: always
  type: dict
disable_modules:
  description: Modules to disable now, the ones other modules depend on (C(proxy)) last.
  returned: always
  type: list
  elements: str
sites:
  description: The names of the recorded sites after this run.
  returned: always
  type: list
  elements: str
legacy_files:
  description: Files of an earlier version of the role that were migrated.
  returned: always
  type: list
  elements: str
"""

import glob
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

OWNED = "modules.json"
LISTEN_LINE = re.compile(r"^\s*Listen\s+(\S+)(?:\s+(\S+))?", re.IGNORECASE)
WILDCARDS = ("*", "0.0.0.0", "[::]", "::")
# Modules that others depend on go last, so that a2dismod or a commented
# LoadModule never leaves a dependant without them.
LAST = ("proxy",)


class Conflict(Exception):
    pass


def parse_listen(argument):
    """(host, port, protocol) of a Listen argument; host '*' for a wildcard."""
    words = argument.split()
    address = words[0]
    protocol = words[1] if len(words) > 1 else ""
    if address.isdigit():
        return "*", address, protocol
    host, _sep, port = address.rpartition(":")
    if not port.isdigit() or not host:
        raise ValueError("not a Listen argument: %r" % argument)
    host = host.lower()
    return ("*" if host in WILDCARDS else host), port, protocol


def listen_argument(host, port, protocol):
    return ("%s" % port if host == "*" else "%s:%s" % (host, port)) + (" " + protocol if protocol else "")


def read_records(registry_dir):
    records = {}
    if not os.path.isdir(registry_dir):
        return records
    for path in sorted(glob.glob(os.path.join(registry_dir, "site-*.json"))):
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
        records[record["site"]] = record
    return records


def read_owned(registry_dir):
    path = os.path.join(registry_dir, OWNED)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return json.load(handle).get("enabled_by_role", [])


def scan_listens(patterns, skip, legacy_marker):
    """{(host, port): (argument, file)} of the Listen lines other files
    declare, and the legacy files (the marker line) found on the way."""
    declared, legacy = {}, []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real in skip or not os.path.isfile(real):
                continue
            with open(real, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
            if legacy_marker and legacy_marker in text:
                legacy.append(real)
                continue
            for line in text.splitlines():
                match = LISTEN_LINE.match(line)
                if not match:
                    continue
                try:
                    host, port, _protocol = parse_listen(" ".join(g for g in match.groups() if g))
                except ValueError:
                    continue
                declared.setdefault((host, port), (match.group(1), path))
    return declared, sorted(set(legacy))


def plan_listens(records, declared):
    """The Listen arguments of all recorded sites that no other file
    declares, and {argument: file} of those another file covers."""
    wanted = {}
    for name in sorted(records):
        for argument in records[name].get("listen", []):
            host, port, protocol = parse_listen(argument)
            wanted.setdefault((host, port), (protocol, name))
    ports_with_wildcard = {port for host, port in wanted if host == "*"}
    elsewhere, lines = {}, []
    for (host, port), (protocol, name) in sorted(wanted.items(), key=lambda item: (int(item[0][1]), item[0][0])):
        argument = listen_argument(host, port, protocol)
        if (host, port) in declared:
            elsewhere[argument] = declared[(host, port)][1]
            continue
        if ("*", port) in declared:
            elsewhere[argument] = declared[("*", port)][1]
            continue
        if host == "*":
            others = sorted(path for (h, p), (_arg, path) in declared.items() if p == port and h != "*")
            if others:
                raise Conflict("site %s listens on every address on port %s, but %s already has a Listen for one "
                               "address on that port; Apache cannot bind both. Give the site that address "
                               "or change the other file." % (name, port, others[0]))
        elif port in ports_with_wildcard:
            # Another recorded site listens on every address of this port.
            continue
        lines.append(argument)
    return lines, elsewhere


def write_if_changed(path, text, check_mode):
    old = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
    if old == text:
        return False
    if not check_mode:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    return True


def remove_if_present(path, check_mode):
    if not os.path.exists(path):
        return False
    if not check_mode:
        os.unlink(path)
    return True


def migrate_legacy(path, keep, check_mode):
    """Comments out the Listen lines of a file the role once owned, or
    removes it."""
    if os.path.realpath(path) not in keep:
        return remove_if_present(path, check_mode)
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    text = "\n".join("# " + line + "  (apache_proxy: see the apache-proxy Listen file)"
                     if LISTEN_LINE.match(line) else line for line in lines) + "\n"
    return write_if_changed(path, text, check_mode)


def run(params, check_mode):
    registry_dir = params["registry_dir"]
    site = params["site"]
    records = read_records(registry_dir)
    for argument in params["listen"]:
        parse_listen(argument)
    if params["state"] == "present":
        records[site] = {"site": site, "listen": list(params["listen"]), "modules": sorted(set(params["modules"]))}
    else:
        records.pop(site, None)

    skip = {os.path.realpath(p) for p in params["ignore_files"]} | {os.path.realpath(params["listen_file"])}
    declared, legacy = scan_listens(params["scan"], skip, params["legacy_marker"])
    lines, elsewhere = plan_listens(records, declared)

    needed = set()
    for record in records.values():
        needed.update(record.get("modules", []))
    owned = set(read_owned(registry_dir)) | set(params["enabled_modules"])
    to_disable = (owned | set(params["disable_modules"])) - needed
    disable = sorted(m for m in to_disable if m not in LAST) + [m for m in LAST if m in to_disable]
    owned -= to_disable

    changed = False
    keep = {os.path.realpath(p) for p in params["legacy_keep_files"]}
    for path in legacy:
        changed |= migrate_legacy(path, keep, check_mode)
    header = params["header"].rstrip("\n")
    text = (header + "\n" if header else "") + "".join("Listen %s\n" % line for line in lines)
    changed |= write_if_changed(params["listen_file"], text, check_mode)
    record_path = os.path.join(registry_dir, "site-%s.json" % site)
    if site in records:
        changed |= write_if_changed(record_path, json.dumps(records[site], sort_keys=True) + "\n", check_mode)
    else:
        changed |= remove_if_present(record_path, check_mode)
    changed |= write_if_changed(os.path.join(registry_dir, OWNED),
                                json.dumps({"enabled_by_role": sorted(owned)}) + "\n", check_mode)
    return {"changed": changed, "listen": lines, "declared_elsewhere": elsewhere, "disable_modules": disable,
            "sites": sorted(records), "legacy_files": legacy}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            registry_dir=dict(type="path", required=True),
            site=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            listen=dict(type="list", elements="str", default=[]),
            modules=dict(type="list", elements="str", default=[]),
            enabled_modules=dict(type="list", elements="str", default=[]),
            disable_modules=dict(type="list", elements="str", default=[]),
            listen_file=dict(type="path", required=True),
            scan=dict(type="list", elements="str", default=[]),
            ignore_files=dict(type="list", elements="path", default=[]),
            legacy_marker=dict(type="str", default=""),
            legacy_keep_files=dict(type="list", elements="path", default=[]),
            header=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode)
    except (Conflict, ValueError) as error:
        module.fail_json(msg=str(error))
    except (OSError, KeyError) as error:
        module.fail_json(msg="reading or writing the apache_proxy records failed: %s" % error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
