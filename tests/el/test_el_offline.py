"""The collection's RHEL-family Apache configuration, rendered by the real
roles with the RedHat variables into a replica of EL's /etc/httpd, is
accepted by Apache's configuration test for every mode, and a broken
directive fails the play with Apache's message and leaves the previous
configuration in place.

Apache here is Debian's (the image HWG_EL_CHECK_IMAGE from
scripts/setup-env.sh) with EL's paths: the tree is mounted at /etc/httpd and
`apache2 -t -d /etc/httpd -f conf/httpd.conf` reads it as EL's httpd would.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TREE = HERE / "tree" / "etc" / "httpd"
IMAGE = os.environ.get("HWG_EL_CHECK_IMAGE", "localhost/httpd-wsgi-glance/el-check:2")

MODULE_ENTRY = {"module": "glance.wsgi.api:application"}
SCRIPT_ENTRY = {"wsgi-file": "/usr/bin/glance-wsgi-api"}
BASE = {"glance_wsgi_listen_address": "127.0.0.1", "glance_wsgi_listen_port": 29292,
        "glance_wsgi_uwsgi_port": 29293, "apache_proxy_disable_stock_listen": True}

CASES = {
    "http": dict(glance_wsgi_mode="http", glance_wsgi_install_method="venv"),
    "http-buffering": dict(glance_wsgi_mode="http", glance_wsgi_install_method="venv",
                           glance_wsgi_request_buffering=True, glance_wsgi_max_image_size=1024),
    "http-unix-socket": dict(glance_wsgi_mode="http", glance_wsgi_install_method="venv",
                             glance_wsgi_uwsgi_socket="/run/glance-uwsgi/uwsgi.sock"),
    "uwsgi": dict(glance_wsgi_mode="uwsgi", glance_wsgi_install_method="venv"),
    "uwsgi-unix-socket": dict(glance_wsgi_mode="uwsgi", glance_wsgi_install_method="venv",
                              glance_wsgi_uwsgi_socket="/run/glance-uwsgi/uwsgi.sock"),
    "mod_wsgi-venv": dict(glance_wsgi_mode="mod_wsgi", glance_wsgi_install_method="venv"),
    "mod_wsgi-package": dict(glance_wsgi_mode="mod_wsgi", glance_wsgi_install_method="package"),
}


def _configtest_command(root):
    return ["docker", "run", "--rm", "--network", "none", "-v", "%s:/etc/httpd:ro" % root, IMAGE,
            "apache2", "-t", "-d", "/etc/httpd", "-f", "conf/httpd.conf"]


def _digest(root):
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _converge(tmp_path, root, case, major="9", extra=None):
    extra_vars = dict(BASE, **case)
    extra_vars.update(extra or {})
    extra_vars.update(
        el_major=major,
        el_app_options=SCRIPT_ENTRY if case.get("glance_wsgi_install_method") == "package" else MODULE_ENTRY,
        __apache_proxy_config_root=str(root),
        __apache_proxy_rollback_dir=str(tmp_path / "rollback"),
        __apache_proxy_configtest_command=_configtest_command(root),
    )
    env = dict(os.environ, ANSIBLE_LIBRARY=str(HERE / "library"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    run = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", json.dumps(extra_vars),
                          str(HERE / "check.yml")], capture_output=True, text=True, env=env, timeout=600,
                         check=False)
    return run


def _failure_message(run):
    """The message of the task that failed the play (the last failure: a
    rescued one comes before it)."""
    messages = [result.get("msg", "") for play in json.loads(run.stdout)["plays"] for task in play["tasks"]
                for result in task["hosts"].values() if result.get("failed")]
    return messages[-1] if messages else run.stderr


def _fresh_tree(tmp_path):
    root = tmp_path / "etc" / "httpd"
    shutil.copytree(TREE, root, symlinks=True)
    return root


def _loaded(root, module):
    text = "\n".join(p.read_text() for p in (root / "conf.modules.d").glob("*.conf"))
    return re.search(r"^\s*LoadModule\s+%s_module\s" % module, text, re.M) is not None


def _apache_t(root):
    return subprocess.run(_configtest_command(root), capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("major", ["9", "10"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_mode_renders_and_passes_apache_configtest(tmp_path, name, major):
    root = _fresh_tree(tmp_path)
    run = _converge(tmp_path, root, CASES[name], major=major)
    assert run.returncode == 0, _failure_message(run)
    site = (root / "conf.d" / "glance-api.conf").read_text()
    assert not (root / "sites-enabled").exists()
    # The stock Listen 80 is commented out (apache_proxy_disable_stock_listen);
    # the site's Listen is in the role's Listen file.
    assert re.search(r"^#Listen 80 ", (root / "conf" / "httpd.conf").read_text(), re.M)
    assert (root / "conf.d" / "00-apache-proxy-listen.conf").read_text().count("Listen 127.0.0.1:29292") == 1
    mode = CASES[name]["glance_wsgi_mode"]
    if mode == "mod_wsgi":
        assert _loaded(root, "wsgi")
        assert "WSGIChunkedRequest On" in site
        assert ("python-home=/opt/glance/glance-33.0.0" in site) == (CASES[name]["glance_wsgi_install_method"] == "venv")
    else:
        wanted = {"http": ["proxy_http"], "uwsgi": ["proxy_uwsgi", "proxy_http", "rewrite"]}[mode]
        assert _loaded(root, "proxy") and all(_loaded(root, module) for module in wanted)
        assert "ProxyPass / " in site
        assert ("RewriteCond %{HTTP:Transfer-Encoding} chunked [NC]" in site) == (mode == "uwsgi")
    check = _apache_t(root)
    assert check.returncode == 0 and "Syntax OK" in check.stderr, check.stderr


def test_mode_switch_on_el_keeps_the_stock_modules(tmp_path):
    root = _fresh_tree(tmp_path)
    assert _converge(tmp_path, root, CASES["http"]).returncode == 0
    run = _converge(tmp_path, root, CASES["mod_wsgi-venv"])
    assert run.returncode == 0, _failure_message(run)
    assert _loaded(root, "wsgi")
    # EL's stock files load the proxy modules: the role did not enable them,
    # so it leaves them (another site may use them).
    assert _loaded(root, "proxy") and _loaded(root, "proxy_http") and _loaded(root, "proxy_ajp")
    assert _apache_t(root).returncode == 0


def test_stock_listen_stays_unless_asked(tmp_path):
    root = _fresh_tree(tmp_path)
    run = _converge(tmp_path, root, CASES["http"], extra={"apache_proxy_disable_stock_listen": False})
    assert run.returncode == 0, _failure_message(run)
    assert re.search(r"^Listen 80$", (root / "conf" / "httpd.conf").read_text(), re.M)
    assert (root / "conf.d" / "00-apache-proxy-listen.conf").read_text().count("Listen 127.0.0.1:29292") == 1
    assert _apache_t(root).returncode == 0


def test_second_run_changes_nothing(tmp_path):
    root = _fresh_tree(tmp_path)
    assert _converge(tmp_path, root, CASES["http"]).returncode == 0
    before = _digest(root)
    run = _converge(tmp_path, root, CASES["http"])
    assert run.returncode == 0
    stats = json.loads(run.stdout)["stats"]["localhost"]
    assert stats["changed"] == 0, stats
    assert _digest(root) == before


def test_broken_directive_fails_and_keeps_the_previous_configuration(tmp_path):
    root = _fresh_tree(tmp_path)
    assert _converge(tmp_path, root, CASES["http"]).returncode == 0
    before = _digest(root)
    run = _converge(tmp_path, root, CASES["http"], extra={"glance_wsgi_apache_extra_directives": ["NoSuchDirective on"]})
    assert run.returncode != 0
    message = _failure_message(run)
    assert "Invalid command 'NoSuchDirective'" in message, message
    assert "previous one was put back" in message
    assert _digest(root) == before
    assert _apache_t(root).returncode == 0


def test_missing_mod_wsgi_package_is_named(tmp_path):
    root = _fresh_tree(tmp_path)
    (root / "conf.modules.d" / "10-wsgi-python3.conf").unlink()
    run = _converge(tmp_path, root, CASES["mod_wsgi-venv"])
    assert run.returncode != 0
    assert "loads wsgi: install the package that provides it" in _failure_message(run)


def test_the_replica_without_the_role_passes_too(tmp_path):
    """The stock replica itself is valid for this Apache: a failure above is
    the role's configuration, not the test bed."""
    root = _fresh_tree(tmp_path)
    check = _apache_t(root)
    assert check.returncode == 0, check.stderr
