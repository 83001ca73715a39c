"""Bad input that only the host can refuse: the installed Glance's option
definitions, uWSGI's strict parser, the TLS files as OpenSSL loads them.
The faults scenario applies each case to a deployed host and requires the
play to fail with the message shown, every file of the deployment unchanged
and the service still answering; scripts/gen_bad_input_doc.py lists them in
docs/bad-input.md."""

BAD_TLS_DIR = "/etc/glance/bad-tls"

HOST_CASES = [
    ({"glance_wsgi_config_overrides": {"DEFAULT": {"enabled_import_methods": "glance-direct,web-download"}}},
     'enabled_import_methods: Value for option enabled_import_methods'),
    ({"glance_wsgi_config_overrides": {"glance_store": {"default_backen": "fs"}}},
     "[glance_store] default_backen is not an option the installed Glance knows"),
    ({"glance_wsgi_config_overrides": {"keystone_authtokn": {"auth_url": "http://127.0.0.1:5000/v3"}}},
     "[keystone_authtokn] is not a section the installed Glance reads"),
    ({"glance_wsgi_config_overrides": {"DEFAULT": {"image_size_cap": -4}}},
     "Should be greater than or equal to 1"),
    ({"glance_wsgi_config_overrides": {"DEFAULT": {"enabled_backends": "fs:file,cold:tape"}}},
     "enabled_backends names the store type 'tape'"),
    ({"glance_wsgi_uwsgi_options": {"no-such-uwsgi-option": 1}},
     "no-such-uwsgi-option"),
    ({"glance_wsgi_tls_certificate": BAD_TLS_DIR + "/a.pem", "glance_wsgi_tls_key": BAD_TLS_DIR + "/b.key"},
     "does not belong to the certificate"),
    ({"glance_wsgi_tls_certificate": BAD_TLS_DIR + "/a.pem", "glance_wsgi_tls_key": BAD_TLS_DIR + "/locked.key"},
     "is protected by a passphrase"),
]
