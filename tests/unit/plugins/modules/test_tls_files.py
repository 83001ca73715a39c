"""httpd_wsgi.glance.tls_files against certificates and keys openssl makes:
a good pair, a key of another certificate, a key with a passphrase, an
expired certificate, a chain with and without the issuer."""

import datetime
import json
import subprocess

import pytest

PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check
      httpd_wsgi.glance.tls_files: {args}
"""


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def _self_signed(directory, name, days="2", extra=()):
    key, cert = directory / (name + ".key"), directory / (name + ".pem")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days, "-subj", "/CN=" + name,
             "-keyout", str(key), "-out", str(cert), *extra)
    return cert, key


def _expired(key_path, out):
    """A certificate valid in January 2020 only (openssl 3.0 cannot date one
    in the past; ansible-core's cryptography can)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2020, 2, 1)).sign(key, hashes.SHA256()))
    out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    files = {}
    files["cert"], files["key"] = _self_signed(base, "glance")
    files["other_cert"], files["other_key"] = _self_signed(base, "other")
    files["locked_key"] = base / "locked.key"
    _openssl("pkey", "-in", str(files["key"]), "-aes256", "-passout", "pass:secret", "-out", str(files["locked_key"]))
    # A CA, a leaf it signs, and an expired leaf (signed with a past window).
    files["ca"], files["ca_key"] = _self_signed(base, "test-ca", days="30")
    files["leaf_key"], csr, files["leaf"] = base / "leaf.key", base / "leaf.csr", base / "leaf.pem"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=leaf", "-keyout", str(files["leaf_key"]),
             "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(files["ca"]), "-CAkey", str(files["ca_key"]),
             "-CAcreateserial", "-days", "5", "-out", str(files["leaf"]))
    files["expired"] = base / "expired.pem"
    _expired(files["leaf_key"], files["expired"])
    files["garbage"] = base / "garbage.pem"
    files["garbage"].write_text("not a certificate\n")
    return files


def _run(run_playbook, args):
    process = run_playbook(PLAY.format(args=json.dumps({k: str(v) for k, v in args.items()})), check=False)
    return process.returncode, json.loads(process.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_a_matching_pair_passes(run_playbook, pki):
    rc, result = _run(run_playbook, {"certificate": pki["cert"], "key": pki["key"]})
    assert rc == 0, result
    assert not result["changed"] and result["subject"] == "commonName=glance" and result["days_left"] in (1, 2)


def test_a_leaf_with_its_chain_passes(run_playbook, pki):
    rc, result = _run(run_playbook, {"certificate": pki["leaf"], "key": pki["leaf_key"], "chain": pki["ca"]})
    assert rc == 0, result


@pytest.mark.parametrize("case, message", [
    (("cert", "other_key", None), "does not belong to the certificate"),
    (("cert", "locked_key", None), "is protected by a passphrase"),
    (("expired", "leaf_key", None), "expired on Feb  1 00:00:00 2020 GMT"),
    (("leaf", "leaf_key", "other_cert"), "does not hold the issuer"),
    (("leaf", "leaf_key", "garbage"), "is not a PEM certificate bundle"),
    (("garbage", "key", None), "holds no PEM certificate"),
    (("cert", "missing", None), "does not exist or cannot be read"),
])
def test_bad_files_are_refused_with_the_reason(run_playbook, pki, case, message):
    cert, key, chain = case
    args = {"certificate": pki[cert], "key": pki.get(key, "/nonexistent/key.pem")}
    if chain:
        args["chain"] = pki[chain]
    rc, result = _run(run_playbook, args)
    assert rc != 0
    assert message in result["msg"], result["msg"]
