"""Fixtures for the unit tests: paths, and a collection tree Ansible can load
without building and installing the tarball."""

import os
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("apache_proxy", "uwsgi_service", "glance_wsgi")


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory):
    """An ANSIBLE_COLLECTIONS_PATH whose httpd_wsgi.glance is this checkout."""
    base = tmp_path_factory.mktemp("collections")
    target = base / "ansible_collections" / "httpd_wsgi"
    target.mkdir(parents=True)
    (target / "glance").symlink_to(ROOT)
    return base


@pytest.fixture(scope="session")
def run_playbook(collections_path, tmp_path_factory):
    """Run a playbook against localhost, in check mode unless told otherwise,
    and return the completed process (JSON callback output on stdout)."""
    workdir = tmp_path_factory.mktemp("play")

    def run(text, extra_vars=None, check=True):
        playbook = workdir / "play.yml"
        playbook.write_text(text, encoding="utf-8")
        env = dict(os.environ,
                   ANSIBLE_COLLECTIONS_PATH=str(collections_path),
                   ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                   ANSIBLE_LOCALHOST_WARNING="false",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                   ANSIBLE_NOCOLOR="1",
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable)
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
        if check:
            command.append("--check")
        for name, value in (extra_vars or {}).items():
            command += ["-e", json.dumps({name: value})]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)

    return run
