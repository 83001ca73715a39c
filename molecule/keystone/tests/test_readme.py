"""The README's "Deploy to your own hosts" section, run as an operator would
run it: its inventory, group_vars/glance_api/main.yml and deploy.yml exactly
as the README prints them; its site.yml and creds.yml with the same
variables, set to this scenario's Keystone and database; a second inventory
with the container's connection and the scenario's ports; then the
README's two commands. Runs after test_modes.py (mode mod_wsgi), so the
README's playbook also brings the host back to the default mode."""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import yaml

from tests.integration.upload_checks import _ansible_env, record

from test_keystone import GLANCE, KEYSTONE, MEMBER  # pylint: disable=import-error

README = Path(__file__).resolve().parents[3] / "README.md"
FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.S)
COMMANDS_BLOCK = re.compile(r"<!-- commands -->\n```sh\n(.*?)```", re.S)

# What stands for the operator's site in this scenario (molecule.yml).
SITE = {
    "glance_wsgi_database_connection":
        "mysql+pymysql://glance:keystone-scenario-test@localhost/glance?unix_socket=/run/mysqld/mysqld.sock",
    "glance_wsgi_keystone_auth_url": KEYSTONE,
    "glance_wsgi_keystone_www_authenticate_uri": KEYSTONE,
    "glance_wsgi_keystone_memcached_servers": ["127.0.0.1:29697"],
    "glance_wsgi_keystone_password": "glance-service-test",
    "glance_wsgi_web_download_allowed_hosts": ["127.0.0.1"],
}
CREDS = {"glance_verify_auth": {"auth_url": KEYSTONE, "username": MEMBER[0], "password": MEMBER[1],
                                "project_name": MEMBER[2]}}


def _readme():
    text = README.read_text(encoding="utf-8")
    files = dict(FILE_BLOCK.findall(text))
    commands = COMMANDS_BLOCK.search(text)
    assert commands, "the README has no <!-- commands --> block"
    return files, [line for line in commands.group(1).splitlines() if line.strip()]


def _failures(run):
    """The messages of the tasks that failed, else the output's end."""
    try:
        plays = json.loads(run.stdout)["plays"]
    except ValueError:
        return (run.stdout + run.stderr)[-4000:]
    return ["%s: %s" % (task["task"]["name"], outcome.get("msg"))
            for play in plays for task in play["tasks"] for outcome in task["hosts"].values()
            if outcome.get("failed") and not outcome.get("ignore_errors")] or run.stderr[-4000:]


def test_the_readme_deploys_and_verifies(host, tmp_path):
    files, commands = _readme()
    assert sorted(files) == ["creds.yml", "deploy.yml", "group_vars/glance_api/main.yml",
                             "group_vars/glance_api/site.yml", "inventory.ini"], sorted(files)
    # The site's files: the README's variables, this scenario's values.
    assert sorted(yaml.safe_load(files["group_vars/glance_api/site.yml"])) == sorted(SITE)
    assert sorted(yaml.safe_load(files["creds.yml"])["glance_verify_auth"]) == sorted(CREDS["glance_verify_auth"])
    files["group_vars/glance_api/site.yml"] = json.dumps(SITE)
    files["creds.yml"] = json.dumps(CREDS)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    hosts = [line.split()[0] for line in files["inventory.ini"].splitlines()
             if line.strip() and not line.startswith(("[", "#"))]
    assert len(hosts) == 1, hosts
    # This machine's part: the container, loopback ports of the scenario's own,
    # and no stock port 80 (containers share the host's network). YAML, so
    # that the booleans stay booleans.
    local = {"ansible_connection": "community.docker.docker",
             "ansible_host": "hwg-" + os.environ["MOLECULE_SCENARIO_NAME"],
             "ansible_python_interpreter": "/usr/bin/python3",
             "glance_wsgi_listen_address": "127.0.0.1", "glance_wsgi_listen_port": int(GLANCE.rsplit(":", 1)[1]),
             "glance_wsgi_uwsgi_port": 29693,
             "apache_proxy_disable_stock_listen": True, "apache_proxy_disable_default_site": True}
    (tmp_path / "local.yml").write_text(json.dumps({"glance_api": {"hosts": {hosts[0]: local}}}), encoding="utf-8")
    assert len(commands) == 2 and all(c.startswith("ansible-playbook -i inventory.ini ") for c in commands), commands
    results = []
    for command in commands:
        argv = shlex.split(command)
        argv[1:1] = ["-i", "local.yml"]
        run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=1800,
                             env=_ansible_env(), check=False)
        assert run.returncode == 0, (command, _failures(run))
        results.append(json.loads(run.stdout))
    deployed = results[0]["stats"][hosts[0]]
    assert deployed["failures"] == 0 and deployed["unreachable"] == 0, deployed
    assert "http-socket" in host.file("/etc/uwsgi/glance-uwsgi.ini").content_string
    verified = {}
    for task in results[1]["plays"][0]["tasks"]:
        for outcome in task["hosts"].values():
            for item in outcome.get("results", []):
                if "image_id" in item:
                    verified[item["item"]] = item
    assert sorted(verified) == ["chunked", "content_length", "glance-direct"], verified
    for item in verified.values():
        assert item["status"] == "active" and item["download_matched"] and item["deleted"], item
    record("README: deploy to your own hosts", deploy_changed=deployed["changed"],
           verify=", ".join("%s active, checksums match" % name for name in sorted(verified)))
