"""Checks shared by the molecule scenarios' testinfra suites.

Every check talks to the real deployment over 127.0.0.1 (the scenario
containers share the host's network) and compares what Glance stored with
what was sent: size, md5 ``checksum``, sha512 ``os_hash_value``, the file in
the store on the container, and the bytes of a download.
"""

import hashlib
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import sys

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

from glance_api import GlanceClient, random_blocks  # noqa: E402  pylint: disable=wrong-import-position
from keystone_auth import password_token  # noqa: E402  pylint: disable=wrong-import-position

MIB = 1024 * 1024
IMAGE_DIR = "/var/lib/glance/images"
# The scenario's Apache and uWSGI ports (molecule.yml's verifier env): the
# Debian 12 scenarios that run one after the other share 29292 and 29293;
# those that run beside them have their own.
LISTEN_PORT = int(os.environ.get("HWG_LISTEN_PORT", "29292"))
UWSGI_PORT = int(os.environ.get("HWG_UWSGI_PORT", "29293"))
APACHE = "http://127.0.0.1:%d" % LISTEN_PORT
REPORT = []


def keystone_token(keystone_v3, user):
    """A token of ``user`` (name, password, project; Default domain) scoped
    to that project, from the scenario's real Keystone, through the client
    code the modules use."""
    name, password, project = user
    return password_token({"auth_url": keystone_v3, "username": name, "password": password,
                           "project_name": project}, timeout=30)


def record(name, **figures):
    """Keep one line of figures for the summary printed at the end of the run."""
    REPORT.append(dict(check=name, **figures))


def annotate_last(**figures):
    """Add figures measured around the last recorded upload."""
    REPORT[-1].update(figures)


def upload_and_check(host, endpoint, name, size, transfer="chunked", chunk_size=64 * 1024,
                     expect_continue=False, download=True, rate_limit=None, client_options=None, pause=None):
    """Create an image, upload ``size`` random bytes, and prove Glance stored
    exactly those bytes. Returns the upload result. ``client_options`` go to
    GlanceClient (ca_path for an https endpoint)."""
    client = GlanceClient(endpoint, timeout=600, **(client_options or {}))
    image = client.create_image("hwg-%s" % name)
    result = client.upload(image["id"], random_blocks(size), transfer=transfer, size=size,
                           chunk_size=chunk_size, expect_continue=expect_continue, rate_limit=rate_limit,
                           pause=pause)
    assert result.status == 204, "upload answered %d: %s" % (result.status, result.body)
    stored = client.wait_for_status(image["id"], "active", timeout=120)
    assert stored["size"] == size
    assert stored["checksum"] == result.md5
    assert stored["os_hash_algo"] == "sha512"
    assert stored["os_hash_value"] == result.sha512
    on_disk = host.file("%s/%s" % (IMAGE_DIR, image["id"]))
    assert on_disk.exists and on_disk.size == size
    assert host.check_output("sha512sum %s/%s" % (IMAGE_DIR, image["id"])).split()[0] == result.sha512
    if download:
        assert client.download(image["id"]) == (size, result.md5, result.sha512)
    record(name, endpoint=endpoint, transfer=transfer, chunk_size=chunk_size,
           expect_continue=expect_continue, bytes=size, seconds=round(result.seconds, 3),
           mib_per_s=round(result.mib_per_second, 1), md5=result.md5, checksums_match=True)
    client.delete_image(image["id"])
    return result


def curl_upload(endpoint, path, extra_headers=()):
    """Upload the file at ``path`` with curl, as operators' scripts do.
    Returns (image id, HTTP status, seconds)."""
    client = GlanceClient(endpoint)
    image = client.create_image("hwg-curl")
    command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
               "-X", "PUT", "-T", str(path), "-H", "Content-Type: application/octet-stream"]
    for header in extra_headers:
        command += ["-H", header]
    command.append("%s/v2/images/%s/file" % (endpoint, image["id"]))
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    status, seconds = output.split()
    return image["id"], int(status), float(seconds)


def curl_chunked_expect_check(tmp_path, endpoint, size, limit):
    """curl's chunked upload with Expect: 100-continue finishes within
    ``limit`` seconds and Glance stores exactly the file."""
    source = tmp_path / "image.raw"
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with open(source, "wb") as handle:
        for _block in range(size // MIB):
            block = os.urandom(MIB)
            md5.update(block)
            sha512.update(block)
            handle.write(block)
    image_id, status, seconds = curl_upload(endpoint, source, ("Transfer-Encoding: chunked", "Expect: 100-continue"))
    assert status == 204
    assert seconds < limit, "curl took %.1f s: the 100 Continue was waited for" % seconds
    client = GlanceClient(endpoint)
    image = client.wait_for_status(image_id)
    assert (image["size"], image["checksum"], image["os_hash_value"]) == (size, md5.hexdigest(), sha512.hexdigest())
    record("curl-chunked-expect", endpoint=endpoint, transfer="chunked", chunk_size="curl",
           expect_continue=True, bytes=size, seconds=seconds, mib_per_s=round(size / MIB / seconds, 1),
           md5=md5.hexdigest(), checksums_match=True)
    client.delete_image(image_id)


class ApacheTmpWatcher:
    """Samples the bytes in Apache's (systemd-private) temporary directory
    while an upload runs; ``peak`` is the most seen."""

    COMMAND = "du -sb /tmp/systemd-private-*-apache2.service-*/tmp 2>/dev/null | awk '{s+=$1} END {print s+0}'"

    def __init__(self, host, interval=0.05):
        self.host = host
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            used = int(self.host.check_output(self.COMMAND) or 0)
            self.peak = max(self.peak, used)
            self.samples += 1
            time.sleep(self.interval)

    def __enter__(self):
        self.baseline = int(self.host.check_output(self.COMMAND) or 0)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_above_baseline = max(0, self.peak - self.baseline)


def check_mode_changes_nothing(host, watched_files):
    """A check-mode run of the scenario's converge playbook against the
    converged host predicts no change, and leaves ``watched_files`` as they were."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    converge = scenario.parent / "shared" / "converge.yml"
    digest = "md5sum " + " ".join(watched_files)
    before = host.check_output(digest)
    run = subprocess.run(["ansible-playbook", "-i", inventory, "--check", str(converge)],
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    recap = re.findall(r"changed=(\d+).*failed=(\d+)", run.stdout)
    assert recap and all(changed == "0" and failed == "0" for changed, failed in recap), run.stdout[-3000:]
    assert host.check_output(digest) == before


def listening_ports(host):
    """TCP ports with a listener on the container (it shares the host's network,
    so only the scenario's own ports are asserted on)."""
    ports = set()
    for line in host.check_output("ss -Htln").splitlines():
        ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


def enabled_apache_modules(host):
    return set(re.findall(r"^\s*(\w+)_module", host.check_output("apache2ctl -M 2>/dev/null"), re.M))


def print_report(terminalreporter):
    """pytest_terminal_summary body for molecule/conftest.py."""
    if not REPORT:
        return
    terminalreporter.section("uploads measured")
    for line in REPORT:
        if "transfer" not in line:
            # A check that is not an upload: its name and figures.
            terminalreporter.write_line("%-30s %s" % (line["check"], "  ".join(
                "%s=%s" % item for item in sorted(line.items()) if item[0] != "check")))
            continue
        terminalreporter.write_line(
            "%-30s %-15s chunk=%-8s expect=%-5s %7.1f MiB in %7.3f s = %7.1f MiB/s  md5=%s  match=%s%s"
            % (line["check"], line["transfer"], line["chunk_size"], line["expect_continue"],
               line["bytes"] / 1048576.0, line["seconds"], line["mib_per_s"], line["md5"],
               line["checksums_match"],
               ("  apache-tmp-peak=%.1f MiB" % (line["apache_tmp_peak"] / 1048576.0))
               if "apache_tmp_peak" in line else ""))


def _ansible_env():
    # LOAD_CALLBACK_PLUGINS: the ad-hoc "ansible" command ignores the stdout
    # callback setting without it.
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    return env


def run_verify_playbook(transfers=("chunked", "content_length"), size_mib=64, extra=None):
    """Run the operator-facing playbook httpd_wsgi.glance.verify (its
    image_upload module runs on the container) and return its per-transfer
    results, recording their figures."""
    extra_vars = dict(glance_verify_hosts="all", glance_verify_transfers=list(transfers),
                      glance_verify_size_mib=size_mib, **(extra or {}))
    run = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                          "-e", json.dumps(extra_vars), "httpd_wsgi.glance.verify"],
                         capture_output=True, text=True, timeout=1800, env=_ansible_env(), check=False)
    report = json.loads(run.stdout)
    task = report["plays"][0]["tasks"][0]
    results = list(task["hosts"].values())[0]["results"]
    for result in results:
        if result.get("http_status") == 204 and not result.get("failed"):
            record("module-%s" % result["item"], endpoint="image_upload module", transfer=result["item"],
                   chunk_size=65536, expect_continue=True, bytes=result["bytes"], seconds=result["seconds"],
                   mib_per_s=result["throughput_mib_s"], md5=result["md5"],
                   checksums_match=result.get("download_matched", False))
    return run.returncode, results


def run_image_upload(args):
    """Run the image_upload module once on the container; return (rc, result)."""
    run = subprocess.run(["ansible", "all", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                          "-m", "httpd_wsgi.glance.image_upload", "-a", json.dumps(args)],
                         capture_output=True, text=True, timeout=600, env=_ansible_env(), check=False)
    report = json.loads(run.stdout)
    return run.returncode, list(report["plays"][0]["tasks"][0]["hosts"].values())[0]


def assert_verify_playbook_passes():
    """The verify playbook uploads chunked and with a Content-Length, and
    every image ends active, downloads back identical, and is deleted."""
    rc, results = run_verify_playbook()
    assert rc == 0, results
    for result in results:
        assert result["status"] == "active" and result["download_matched"] and result["deleted"], result


SPOOFED_HEADERS = {
    "Forwarded": "for=203.0.113.9;host=evil.example;proto=https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/evil",
    "X-Forwarded-Port": "1",
    "X-Forwarded-For": "203.0.113.9",
}


def spoofed_forwarding_headers_are_ignored(endpoint):
    """A client's forwarding headers (RFC 7239 Forwarded, X-Forwarded-*)
    must not choose the scheme, host or prefix of the links Glance returns:
    they name the role's public URL whatever the client sends."""
    client = GlanceClient(endpoint)
    status, versions = client.request("GET", "/", headers=SPOOFED_HEADERS, expect=(200, 300))
    hrefs = [link["href"] for version in versions["versions"] for link in version.get("links", [])]
    assert hrefs, versions
    for href in hrefs:
        assert href.startswith(endpoint + "/"), href
    assert "evil" not in json.dumps(versions) and "https://" not in json.dumps(versions)
    record("spoofed forwarding headers", status=status, links=len(hrefs), result="links name %s" % endpoint)


def metadefs_are_served(endpoint):
    """The metadata definitions Glance ships are in the database."""
    client = GlanceClient(endpoint)
    namespaces = client.request("GET", "/v2/metadefs/namespaces?limit=100")[1]["namespaces"]
    resource_types = client.request("GET", "/v2/metadefs/resource_types")[1]["resource_types"]
    assert len(namespaces) >= 20, namespaces
    assert any(ns["namespace"] == "OS::Compute::Hypervisor" for ns in namespaces), [ns["namespace"] for ns in namespaces]
    assert len(resource_types) >= 5, resource_types
    record("metadata definitions", namespaces=len(namespaces), resource_types=len(resource_types))
