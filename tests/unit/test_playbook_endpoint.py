"""The endpoint verify.yml and cleanup_stale_uploads.yml use by default comes
from the glance_wsgi role's variables (playbooks/vars/local_endpoint.yml)."""

import json

import pytest

from conftest import ROOT

PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files:
    - %s
  tasks:
    - name: Show
      ansible.builtin.debug:
        msg: "{{ glance_local_endpoint }} {{ glance_local_ca_path }}"
""" % (ROOT / "playbooks" / "vars" / "local_endpoint.yml")


@pytest.mark.parametrize("role_vars, expected", [
    ({}, "http://127.0.0.1:9292 "),
    ({"glance_wsgi_listen_port": 29292}, "http://127.0.0.1:29292 "),
    ({"glance_wsgi_listen_address": "192.0.2.10", "glance_wsgi_listen_port": 9393}, "http://192.0.2.10:9393 "),
    ({"glance_wsgi_listen_address": "::"}, "http://[::1]:9292 "),
    ({"glance_wsgi_listen_address": "2001:db8::7"}, "http://[2001:db8::7]:9292 "),
    ({"glance_wsgi_tls_certificate": "/etc/glance/tls/cert.pem"}, "https://127.0.0.1:9292 /etc/glance/tls/cert.pem"),
    ({"glance_wsgi_tls_certificate": "/c.pem", "glance_wsgi_tls_chain": "/chain.pem"}, "https://127.0.0.1:9292 /chain.pem"),
])
def test_the_default_endpoint_follows_the_role(run_playbook, role_vars, expected):
    process = run_playbook(PLAY, extra_vars=role_vars, check=False)
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-2000:]
    result = json.loads(process.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["msg"].strip() == expected.strip()
