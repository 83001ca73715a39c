#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: httpd_wsgi.glance contributors
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tls_files
short_description: Check a PEM certificate, its key and its chain before a web server is given them
description:
  - Loads the certificate and key the way a TLS server does (Python's C(ssl), the host's OpenSSL) and fails
    with a message naming the file when the key does not belong to the certificate, the key has a passphrase
    (a server started by systemd cannot type it), the certificate has expired or is not valid yet, or the
    chain does not hold the certificate's issuer.
  - Changes nothing; runs the same in check mode.
  - Apache's configuration test (C(apache2ctl -t)) reads none of this. Without this check, a bad pair passes
    it and stops Apache, every site on it, at the next graceful reload.
version_added: 0.2.0
author:
  - httpd_wsgi.glance maintainers (@httpd-wsgi)
options:
  certificate:
    description: PEM certificate (it may carry its chain after it).
    type: path
    required: true
  key:
    description: PEM private key of O(certificate).
    type: path
    required: true
  chain:
    description: PEM intermediate certificates; the certificate's issuer must be among them.
    type: path
  min_days_left:
    description: Fail when the certificate expires in fewer days than this (0 fails only an expired one).
    type: int
    default: 0
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Check the certificate before Apache is given it
  httpd_wsgi.glance.tls_files:
    certificate: /etc/glance/tls/cert.pem
    key: /etc/glance/tls/key.pem
"""

RETURN = r"""
not_after:
  description: The certificate's expiry, as OpenSSL prints it.
  returned: success
  type: str
  sample: Dec  6 03:00:00 2027 GMT
days_left:
  description: Whole days until the certificate expires.
  returned: success
  type: int
  sample: 364
subject:
  description: The certificate's subject, as C(key=value) pairs.
  returned: success
  type: str
  sample: CN=glance.example.org
"""

import os
import re
import shutil
import ssl
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class Refused(Exception):
    pass


def _decode(path):
    # The ssl module's own PEM decoder (what the test suite of CPython uses);
    # it reads the first certificate of the file.
    return ssl._ssl._test_decode_cert(path)  # pylint: disable=protected-access


def _name(rdns):
    return ",".join("%s=%s" % pair for rdn in rdns for pair in rdn)


def _certificates(path, workdir):
    """Each PEM certificate of ``path``, decoded."""
    with open(path) as handle:
        blocks = PEM_CERT.findall(handle.read())
    decoded = []
    for number, block in enumerate(blocks):
        one = os.path.join(workdir, "cert-%d.pem" % number)
        with open(one, "w") as handle:
            handle.write(block + "\n")
        decoded.append(_decode(one))
    return decoded


def _refuse_passphrase(path):
    def no_passphrase():
        raise Refused("the key %s is protected by a passphrase: Apache, started by systemd, cannot ask for it "
                      "and would not start. Remove the passphrase (openssl pkey -in KEY -out KEY.plain)." % path)
    return no_passphrase


def check(params, now):
    cert, key, chain = params["certificate"], params["key"], params["chain"]
    for what, path in (("certificate", cert), ("key", key), ("chain", chain)):
        if path and not os.access(path, os.R_OK):
            raise Refused("the %s %s does not exist or cannot be read" % (what, path))
    workdir = tempfile.mkdtemp(prefix="tls-files-")
    try:
        try:
            certs = _certificates(cert, workdir)
        except (ssl.SSLError, ValueError) as error:
            raise Refused("the certificate %s is not a PEM certificate: %s" % (cert, error)) from None
        if not certs:
            raise Refused("the certificate %s holds no PEM certificate" % cert)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(cert, key, password=_refuse_passphrase(key))
        except ssl.SSLError as error:
            text = str(error)
            if "KEY_VALUES_MISMATCH" in text or "key values mismatch" in text:
                raise Refused("the key %s does not belong to the certificate %s (OpenSSL: %s)"
                              % (key, cert, text)) from None
            raise Refused("the certificate %s and key %s cannot be loaded: %s" % (cert, key, text)) from None
        leaf = certs[0]
        not_before = ssl.cert_time_to_seconds(leaf["notBefore"])
        not_after = ssl.cert_time_to_seconds(leaf["notAfter"])
        if now < not_before:
            raise Refused("the certificate %s is not valid before %s" % (cert, leaf["notBefore"]))
        days_left = int((not_after - now) // 86400)
        if now >= not_after:
            raise Refused("the certificate %s expired on %s" % (cert, leaf["notAfter"]))
        if days_left < params["min_days_left"]:
            raise Refused("the certificate %s expires on %s, in %d day(s); min_days_left is %d"
                          % (cert, leaf["notAfter"], days_left, params["min_days_left"]))
        if chain:
            try:
                chain_certs = _certificates(chain, workdir)
                ssl.create_default_context(cafile=None).load_verify_locations(cafile=chain)
            except (ssl.SSLError, ValueError) as error:
                raise Refused("the chain %s is not a PEM certificate bundle: %s" % (chain, error)) from None
            if not chain_certs:
                raise Refused("the chain %s holds no PEM certificate" % chain)
            subjects = [_name(item["subject"]) for item in chain_certs + certs[1:]]
            if _name(leaf["issuer"]) not in subjects:
                raise Refused("the chain %s does not hold the issuer of %s (%s); it holds: %s"
                              % (chain, cert, _name(leaf["issuer"]), "; ".join(subjects)))
            for item in chain_certs:
                if now >= ssl.cert_time_to_seconds(item["notAfter"]):
                    raise Refused("the chain %s holds an expired certificate: %s (expired %s)"
                                  % (chain, _name(item["subject"]), item["notAfter"]))
        return dict(not_after=leaf["notAfter"], days_left=days_left, subject=_name(leaf["subject"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificate=dict(type="path", required=True),
            key=dict(type="path", required=True, no_log=False),
            chain=dict(type="path"),
            min_days_left=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    try:
        result = check(module.params, time.time())
    except Refused as error:
        module.fail_json(msg=str(error))
    except (OSError, ValueError) as error:
        module.fail_json(msg="checking %s failed: %s" % (module.params["certificate"], error))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
