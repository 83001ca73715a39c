"""Upload checks shared by the molecule scenarios' testinfra suites.

Every check talks to the real deployment over 127.0.0.1 (the scenario
containers share the host's network) and compares what Glance stored with
what was sent: size, md5 ``checksum``, sha512 ``os_hash_value``, the bytes of
a download, and the file in the store on the container.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

from glance_api import GlanceClient, random_blocks  # noqa: E402  pylint: disable=wrong-import-position

MIB = 1024 * 1024
REPORT = []


def record(name, **figures):
    """Keep one line of figures for the summary printed at the end of the run."""
    REPORT.append(dict(check=name, **figures))
    report_file = os.environ.get("HWG_UPLOAD_REPORT")
    if report_file:
        with open(report_file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(REPORT[-1]) + "\n")


def upload_and_check(host, endpoint, name, size, transfer="chunked", chunk_size=64 * 1024,
                     expect_continue=False, image_dir="/var/lib/glance/images", download=True):
    """Create an image, upload ``size`` random bytes, and prove Glance stored
    exactly those bytes. Returns the upload result."""
    client = GlanceClient(endpoint, timeout=600)
    image = client.create_image("hwg-%s" % name)
    result = client.upload(image["id"], random_blocks(size), transfer=transfer, size=size,
                           chunk_size=chunk_size, expect_continue=expect_continue)
    assert result.status == 204, "upload answered %d: %s" % (result.status, result.body)
    stored = client.wait_for_status(image["id"], "active", timeout=120)
    assert stored["size"] == size
    assert stored["checksum"] == result.md5
    assert stored["os_hash_algo"] == "sha512"
    assert stored["os_hash_value"] == result.sha512
    on_disk = host.file("%s/%s" % (image_dir, image["id"]))
    assert on_disk.exists and on_disk.size == size
    assert host.check_output("sha512sum %s/%s" % (image_dir, image["id"])).split()[0] == result.sha512
    if download:
        assert client.download(image["id"]) == (size, result.md5, result.sha512)
    record(name, endpoint=endpoint, transfer=transfer, chunk_size=chunk_size,
           expect_continue=expect_continue, bytes=size, seconds=round(result.seconds, 3),
           mib_per_s=round(result.mib_per_second, 1), md5=result.md5,
           sha512=result.sha512[:16] + "...", checksums_match=True)
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
    started = time.time()
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    status, seconds = output.split()
    assert time.time() - started >= 0
    return image["id"], int(status), float(seconds)
