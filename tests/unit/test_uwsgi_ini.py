"""The uWSGI ini is rendered from data: the role's option set, the caller's
additions and overrides, null to remove, lists to repeat. Rendered through the
real role variables and template by ansible-playbook (nothing is written
outside a temporary directory)."""

import configparser

PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files:
    - {root}/roles/uwsgi_service/defaults/main.yml
    - {root}/roles/uwsgi_service/vars/main.yml
    - {root}/roles/uwsgi_service/vars/Debian.yml
  tasks:
    - name: Render the ini
      ansible.builtin.template:
        src: {root}/roles/uwsgi_service/templates/uwsgi.ini.j2
        dest: {out}
        mode: "0644"
"""


def _render(run_playbook, tmp_path, extra):
    from conftest import ROOT
    out = tmp_path / "rendered.ini"
    process = run_playbook(PLAY.format(root=ROOT, out=out), extra, check=False)
    assert process.returncode == 0, process.stdout[-3000:]
    return out.read_text(encoding="utf-8")


def _options(text):
    pairs = []
    for line in text.splitlines():
        if " = " in line and not line.startswith(";"):
            key, value = line.split(" = ", 1)
            pairs.append((key, value))
    return pairs


def test_defaults_are_the_same_for_every_application(run_playbook, tmp_path):
    """The role's own options: process model, graceful stop and reload,
    strictness. Nothing about how an application reads request bodies (those
    come from the caller, as glance_wsgi passes Glance's)."""
    text = _render(run_playbook, tmp_path, {"uwsgi_service_app_options": {"wsgi-file": "/usr/bin/app-wsgi"}})
    pairs = _options(text)
    options = dict(pairs)
    assert pairs[0] == ("plugins", "python3,http"), "plugins must come first"
    assert options["http-socket"] == "127.0.0.1:60999"
    for key in ("lazy-apps", "thunder-lock", "enable-threads", "master", "strict", "need-app", "vacuum"):
        assert options[key] == "true", key
    for key in ("http-auto-chunked", "http-chunked-input", "http-raw-body", "chunked-input-limit", "buffer-size"):
        assert key not in options, key
    # Graceful stop and reload instead of die-on-term: requests in flight finish.
    assert "die-on-term" not in options
    assert options["hook-master-start"] == "unix_signal:15 gracefully_kill_them_all"
    assert options["worker-reload-mercy"] == options["reload-mercy"] == "900"
    assert options["master-fifo"] == "/run/uwsgi-app/master.fifo"
    assert options["stats"] == "/run/uwsgi-app/stats.sock"
    # An http-socket closes each connection after its response, and says so.
    assert options["add-header"] == "Connection: close"
    assert "exit-on-reload" not in options
    assert configparser.ConfigParser(strict=False, interpolation=None).read_string(text) is None
    uwsgi_protocol = dict(_options(_render(run_playbook, tmp_path, {
        "uwsgi_service_app_options": {"wsgi-file": "/usr/bin/app-wsgi"}, "uwsgi_service_protocol": "uwsgi"})))
    assert uwsgi_protocol["socket"] == "127.0.0.1:60999" and "add-header" not in uwsgi_protocol


def test_overrides_removals_and_repeated_options(run_playbook, tmp_path):
    text = _render(run_playbook, tmp_path, {
        "uwsgi_service_app_options": {"module": "glance.wsgi.api:application"},
        "uwsgi_service_address": "::1",
        "uwsgi_service_port": 8080,
        "uwsgi_service_options": {
            "buffer-size": 32768,
            "thunder-lock": None,
            "add-header": ["Connection: close", "X-Served-By: uwsgi"],
            "env": ["A=1", "B=2"],
            "harakiri": 3600,
        },
    })
    pairs = _options(text)
    options = dict(pairs)
    assert options["http-socket"] == "[::1]:8080"
    assert options["buffer-size"] == "32768"
    assert "thunder-lock" not in options
    assert [v for k, v in pairs if k == "add-header"] == ["Connection: close", "X-Served-By: uwsgi"]
    assert [v for k, v in pairs if k == "env"] == ["A=1", "B=2"]
    assert options["harakiri"] == "3600"
    assert options["module"] == "glance.wsgi.api:application"
