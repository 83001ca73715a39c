"""Bad input fails with a clear message before any task that could change the
host: the failing task must be the argument-spec validation or one of the
roles' checks, never an install or a write."""

import json

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: httpd_wsgi.glance.%s
"""

# Tasks allowed to run before the failure: they only read the host.
READ_ONLY_TASKS = ("Validating arguments", "Check every number", "Gathering Facts", "Set variables", "Ensure the facts",
                   "Check ", "Load the variables", "Check the combination", "Measure the free space",
                   "Ask the package manager", "Choose the install method", "Plan the Listen lines",
                   "Remember where this role's task files are",
                   "Run Glance under uWSGI, entry point validate",
                   "Configure Apache for Glance's mode, entry point validate")

# What every apache_proxy site needs, for the cases about the rest.
APACHE = {"apache_proxy_site_name": "app", "apache_proxy_listen_port": 8080,
          "apache_proxy_backend_url": "http://127.0.0.1:8001/"}

# A complete Keystone setting, for the cases about what comes after it.
KEYSTONE = {"glance_wsgi_keystone_enabled": True, "glance_wsgi_keystone_password": "x",
            "glance_wsgi_keystone_auth_url": "http://127.0.0.1:5000/v3",
            "glance_wsgi_keystone_www_authenticate_uri": "http://127.0.0.1:5000/v3"}

CASES = [
    ("glance_wsgi", {"glance_wsgi_mode": "carrier-pigeon"},
     "value of glance_wsgi_mode must be one of: http, uwsgi, mod_wsgi"),
    ("glance_wsgi", {"glance_wsgi_mode": "uwsgi", "glance_wsgi_request_buffering": True,
                     "glance_wsgi_max_image_size": 1024},
     "Apache's uwsgi proxy (mod_proxy_uwsgi) ignores it"),
    ("glance_wsgi", {"glance_wsgi_mode": "mod_wsgi", "glance_wsgi_request_buffering": True,
                     "glance_wsgi_max_image_size": 1024},
     "has no meaning in mode mod_wsgi"),
    ("glance_wsgi", {"glance_wsgi_request_buffering": True},
     "set glance_wsgi_max_image_size"),
    ("glance_wsgi", {"glance_wsgi_request_buffering": True, "glance_wsgi_max_image_size": 2 ** 62},
     "less than glance_wsgi_max_image_size"),
    ("glance_wsgi", {"glance_wsgi_uwsgi_socket": "run/glance.sock"},
     "glance_wsgi_uwsgi_socket must be an absolute path"),
    ("glance_wsgi", {"glance_wsgi_listen_port": 70000},
     "glance_wsgi_listen_port must be between 1 and 65535"),
    ("glance_wsgi", {"glance_wsgi_uwsgi_port": 0},
     "glance_wsgi_uwsgi_port must be between 1 and 65535"),
    ("glance_wsgi", {"glance_wsgi_listen_port": "http"},
     "glance_wsgi_listen_port"),
    ("glance_wsgi", {"glance_wsgi_listen_address": "127.0.0.1", "glance_wsgi_uwsgi_address": "0.0.0.0"},
     "uWSGI would listen on 0.0.0.0, which is not a loopback address"),
    ("glance_wsgi", {"glance_wsgi_listen_port": 9000, "glance_wsgi_uwsgi_port": 9000},
     "cannot listen on the same port"),
    ("glance_wsgi", {"glance_wsgi_keystone_enabled": True},
     "glance_wsgi_keystone_auth_url"),
    ("glance_wsgi", {"glance_wsgi_listen_address": "127.0.0.1", "glance_wsgi_tls_certificate": "/nonexistent/glance.crt",
                     "glance_wsgi_tls_key": "/nonexistent/glance.key"},
     "These TLS files do not exist on localhost: /nonexistent/glance.crt, /nonexistent/glance.key"),
    ("glance_wsgi", {"glance_wsgi_tls_certificate": "/etc/hostname"},
     "TLS needs both a certificate and a key (glance_wsgi_tls_certificate and glance_wsgi_tls_key)"),
    ("glance_wsgi", {"glance_wsgi_drain_timeout": "forever"},
     "glance_wsgi_drain_timeout"),
    ("glance_wsgi", {"glance_wsgi_install_method": "tarball"},
     "value of glance_wsgi_install_method must be one of: auto, package, venv"),
    ("glance_wsgi", {"glance_wsgi_install_method": "venv", "glance_wsgi_venv_glance_version": "29.0.0"},
     "there is no constraints file for it"),
    ("glance_wsgi", {"glance_wsgi_install_method": "venv", "glance_wsgi_venv_dir": "opt/glance"},
     "glance_wsgi_venv_dir must be an absolute path"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_install_method": "pip"},
     "set uwsgi_service_virtualenv to an absolute path"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_address": "192.0.2.10"},
     "which is not a loopback address"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_options": {"socket": ":3031"}},
     "which is not a loopback address"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_options": {"exit-on-reload": True},
                       "uwsgi_service_restart": "on-failure"},
     "Restart=on-failure would leave the service down"),
    ("uwsgi_service", {}, "No application is set"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_protocol": "fastcgi"},
     "uwsgi_service_protocol must be one of"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_restart": "sometimes"},
     "uwsgi_service_restart must be one of"),
    ("apache_proxy", dict(APACHE, **{"apache_proxy_listen_port": 123456}),
     "apache_proxy_listen_port must be between 1 and 65535"),
    ("apache_proxy", dict(APACHE, **{"apache_proxy_tls_certificate": "/nonexistent/site.crt",
                                     "apache_proxy_tls_key": "/etc/hostname"}),
     "These TLS files do not exist on localhost: /nonexistent/site.crt"),
    ("apache_proxy", dict(APACHE, **{"apache_proxy_backend_url": "ftp://127.0.0.1/"}),
     "apache_proxy_backend_url must start with one of"),
    ("apache_proxy", dict(APACHE, **{"apache_proxy_path": "images"}),
     "apache_proxy_path must be an absolute path"),
    ("apache_proxy", dict(APACHE, **{"apache_proxy_backend_url": "uwsgi://127.0.0.1:3031/",
                                     "apache_proxy_request_buffering": True}),
     "mod_proxy_uwsgi ignores it"),
    ("apache_proxy", dict(APACHE, **{"apache_proxy_wsgi": {"processes": 2}}),
     "apache_proxy_wsgi needs \"script\""),
    ("apache_proxy", dict(APACHE, **{"apache_proxy_backend_url": "unix:/run/app.sock"}),
     "or name a unix socket as"),
    ("glance_wsgi", {}, "Without Keystone (glance_wsgi_keystone_enabled is false) Glance takes every request"),
    ("glance_wsgi", {"glance_wsgi_listen_address": "192.0.2.10"},
     "can read, replace and delete every image"),
    # Import and registration.
    ("glance_wsgi", {"glance_wsgi_listen_address": "127.0.0.1", "glance_wsgi_import_methods": ["glance-direct"]},
     "needs Keystone: an import runs as a task"),
    ("glance_wsgi", {"glance_wsgi_listen_address": "127.0.0.1", "glance_wsgi_import_methods": ["glance-direkt"]},
     "glance_wsgi_import_methods may name glance-direct, web-download, copy-image"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_import_methods=["copy-image"]),
     "copy-image copies an image from one store into others"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_import_methods=["web-download"]),
     "Name the hosts it may fetch from"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_stores=[{"name": "fs", "path": "/srv/a"}, {"name": "fs", "path": "/srv/b"}]),
     "glance_wsgi_stores must list at least one store"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_stores=[{"name": "os_glance_staging_store", "path": "/srv/a"}]),
     "not starting with os_glance_"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_default_store="missing"),
     "glance_wsgi_default_store must be one of those names"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_stores=[{"name": "fs", "path": "srv/images"}]),
     "glance_wsgi_stores must be an absolute path"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_import_plugins=["image_convertion"]),
     "glance_wsgi_import_plugins may name image_conversion"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_keystone_register=True),
     "glance_wsgi_keystone_register needs glance_wsgi_keystone_enabled and admin credentials"),
    ("glance_wsgi", dict(KEYSTONE, glance_wsgi_keystone_public_url="glance.example:9292"),
     "glance_wsgi_keystone_public_url must be an http:// or https:// URL"),
    # Numbers that pass the argument spec's type but break the service.
    ("glance_wsgi", {"glance_wsgi_processes": 0}, "glance_wsgi_processes must be between 1 and 1024, not 0."),
    ("glance_wsgi", {"glance_wsgi_threads": -2}, "glance_wsgi_threads must be between 1 and 1024, not -2."),
    ("glance_wsgi", {"glance_wsgi_drain_timeout": 0}, "glance_wsgi_drain_timeout must be between 1 and 86400"),
    ("glance_wsgi", {"glance_wsgi_request_timeout": 0}, "glance_wsgi_request_timeout must be between 1 and 604800"),
    ("glance_wsgi", {"glance_wsgi_uwsgi_socket_timeout": 10 ** 7},
     "glance_wsgi_uwsgi_socket_timeout must be between 1 and 86400"),
    ("glance_wsgi", {"glance_wsgi_image_size_cap": 0}, "glance_wsgi_image_size_cap must be between 1 and"),
    ("glance_wsgi", {"glance_wsgi_max_image_size": -1}, "glance_wsgi_max_image_size must be between 0 and"),
    ("glance_wsgi", {"glance_wsgi_processes": "4.5"}, "glance_wsgi_processes"),
    # Paths and URLs.
    ("glance_wsgi", {"glance_wsgi_state_dir": "var/lib/glance"}, "glance_wsgi_state_dir must be an absolute path"),
    ("glance_wsgi", {"glance_wsgi_image_dir": "images"}, "glance_wsgi_image_dir must be an absolute path"),
    ("glance_wsgi", {"glance_wsgi_log_dir": "log"}, "glance_wsgi_log_dir must be an absolute path"),
    ("glance_wsgi", {"glance_wsgi_apache_tmp_dir": "tmp"}, "glance_wsgi_apache_tmp_dir must be an absolute path"),
    ("glance_wsgi", {"glance_wsgi_wsgi_scripts": ["bin/glance-wsgi-api"]},
     "glance_wsgi_wsgi_scripts must be an absolute path"),
    ("glance_wsgi", {"glance_wsgi_public_url": "glance.example:9292"},
     "glance_wsgi_public_url must be an http:// or https:// URL"),
    ("glance_wsgi", {"glance_wsgi_keystone_enabled": True, "glance_wsgi_keystone_password": "x",
                     "glance_wsgi_keystone_auth_url": "keystone:5000",
                     "glance_wsgi_keystone_www_authenticate_uri": "http://keystone:5000"},
     "glance_wsgi_keystone_auth_url must be an http:// or https:// URL"),
    ("glance_wsgi", {"glance_wsgi_keystone_www_authenticate_uri": "http://keystone:99999"},
     "glance_wsgi_keystone_www_authenticate_uri must be an http:// or https:// URL with a host (and a valid port)"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"}, "uwsgi_service_processes": 0},
     "uwsgi_service_processes must be between 1 and 1024, not 0."),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_socket_timeout": 0},
     "uwsgi_service_socket_timeout must be between 1 and"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"}, "uwsgi_service_stop_grace": 0},
     "uwsgi_service_stop_grace must be between 1 and 3600"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_config_dir": "etc/uwsgi"},
     "uwsgi_service_config_dir must be an absolute path"),
    ("uwsgi_service", {"uwsgi_service_app_options": {"module": "app:application"},
                       "uwsgi_service_writable_paths": ["/var/lib/app", "data"]},
     "uwsgi_service_writable_paths must be an absolute path, not 'data'"),
    ("apache_proxy", dict(APACHE, apache_proxy_timeout=0), "apache_proxy_timeout must be between 1 and 604800"),
    ("apache_proxy", dict(APACHE, apache_proxy_connect_timeout=-1),
     "apache_proxy_connect_timeout must be between 1 and 3600"),
    ("apache_proxy", dict(APACHE, apache_proxy_limit_request_body=-1),
     "apache_proxy_limit_request_body must be between 0"),
    ("apache_proxy", dict(APACHE, apache_proxy_request_read_timeout_body=0),
     "apache_proxy_request_read_timeout_body must be between 1 and 3600"),
    ("apache_proxy", dict(APACHE, apache_proxy_tls_certificate="site.crt", apache_proxy_tls_key="site.key"),
     "apache_proxy_tls_certificate must be an absolute path"),
    ("apache_proxy", {"apache_proxy_listen_port": 8080, "apache_proxy_backend_url": "http://127.0.0.1:8001/"},
     "missing required arguments: apache_proxy_site_name"),
    ("apache_proxy", dict(APACHE, apache_proxy_site_name="../app"), "apache_proxy needs apache_proxy_site_name"),
    ("apache_proxy", dict(APACHE, apache_proxy_backend_url=""), "either apache_proxy_backend_url or apache_proxy_wsgi"),
    ("apache_proxy", dict(APACHE, apache_proxy_manage_ports_conf=True), "apache_proxy_manage_ports_conf is gone"),
    ("apache_proxy", dict(APACHE, apache_proxy_chunked_backend_url="uwsgi://127.0.0.1:8002/"),
     "apache_proxy_chunked_backend_url (\"uwsgi://127.0.0.1:8002/\") must be an http:// URL"),
    ("glance_wsgi", {"glance_wsgi_mode": "uwsgi", "glance_wsgi_uwsgi_chunked_port": 60999},
     "must differ: Apache and uWSGI cannot listen on the same port"),
    ("glance_wsgi", {"glance_wsgi_database_upgrade": "rolling",
                     "glance_wsgi_database_connection": "postgresql://glance:x@db/glance"},
     "glance_wsgi_database_connection is a postgresql database: Glance's zero-downtime schema path"),
    ("glance_wsgi", {"glance_wsgi_database_upgrade": "online"}, "value of glance_wsgi_database_upgrade must be one of"),
    ("glance_wsgi", {"glance_wsgi_haproxy_balancers": [{"host": "lb1", "socket": "run/haproxy.sock",
                                                        "backend": "glance_api"}]},
     "Each entry of glance_wsgi_haproxy_balancers needs host"),
]


def _task_results(stdout):
    report = json.loads(stdout)
    for play in report["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                yield task["task"]["name"].split(" : ", 1)[-1], result


@pytest.mark.parametrize("role,extra_vars,message", CASES,
                         ids=["%s-%s" % (c[0], "-".join(k for k in c[1] if APACHE.get(k) != c[1][k]) or "empty") for c in CASES])
def test_bad_input_fails_before_any_change(run_playbook, role, extra_vars, message):
    process = run_playbook(PLAY % role, extra_vars)
    assert process.returncode != 0, process.stdout[-2000:]
    results = list(_task_results(process.stdout))
    failed = [(name, result) for name, result in results if result.get("failed")]
    assert len(failed) == 1, failed
    name, result = failed[0]
    messages = [result.get("msg", "")] + [item.get("msg", "") for item in result.get("results", [])]
    assert any(message in text for text in messages), messages
    for ran, _result in results:
        assert ran.startswith(READ_ONLY_TASKS), "task %r ran before the bad input was refused" % ran
    assert not any(result.get("changed") for _name, result in results)
