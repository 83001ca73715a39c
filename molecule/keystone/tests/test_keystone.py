"""Glance behind Apache with a real Keystone: registration, tokens, RBAC and
interoperable image import (glance-direct, web-download, copy-image,
image_conversion), each proven by what Glance stored: size, md5 and sha512
of the source, the file in the store, the downloaded bytes. Tokens come from
the scenario's Keystone (molecule.yml); the clients are this collection's
own (standard library), python-openstackclient and python-glanceclient."""

import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.upload_checks import (  # noqa: F401
    IMAGE_DIR, MIB, _ansible_env, keystone_token, record, upload_and_check)

from glance_api import GlanceClient, GlanceError, random_blocks

GLANCE = "http://127.0.0.1:29692"
KEYSTONE = "http://127.0.0.1:29695/v3"
WEB = "http://127.0.0.1:29698"
COLD_DIR = "/var/lib/glance/images-cold"
STAGING_DIR = "/var/lib/glance/staging"
ADMIN = ("admin", "keystone-admin-test", "admin")
MEMBER = ("demo-member", "demo-user-test", "demo")
READER = ("demo-reader", "demo-user-test", "demo")
OS_ENV = ("OS_AUTH_URL=%s OS_USERNAME={0} OS_PASSWORD={1} OS_PROJECT_NAME={2} OS_USER_DOMAIN_NAME=Default "
          "OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3 OS_IMAGE_API_VERSION=2" % KEYSTONE)


def token(user):
    return keystone_token(KEYSTONE, user)


@pytest.fixture(scope="module")
def admin():
    return GlanceClient(GLANCE, token=token(ADMIN), timeout=600)


@pytest.fixture(scope="module")
def member():
    return GlanceClient(GLANCE, token=token(MEMBER), timeout=600)


@pytest.fixture(scope="module")
def reader():
    return GlanceClient(GLANCE, token=token(READER), timeout=600)


@pytest.fixture(scope="module")
def web(host):
    """An HTTP server in the container (host network: 127.0.0.1:29698)
    serving /srv/hwg-web, for web-download."""
    host.check_output("mkdir -p /srv/hwg-web && head -c %d /dev/urandom > /srv/hwg-web/random.raw" % (48 * MIB))
    host.check_output("systemctl stop hwg-web 2>/dev/null; systemctl reset-failed hwg-web 2>/dev/null;"
                      " systemd-run --unit hwg-web python3 -m http.server --bind 127.0.0.1 --directory /srv/hwg-web 29698")
    for _attempt in range(50):
        if host.run("curl -sf -o /dev/null %s/random.raw" % WEB).rc == 0:
            break
        time.sleep(0.2)
    yield WEB
    host.run("systemctl stop hwg-web")


def _sums(host, path):
    return (int(host.check_output("stat -c %%s %s" % path)), host.check_output("md5sum %s" % path).split()[0],
            host.check_output("sha512sum %s" % path).split()[0])


def _assert_stored(host, client, image_id, size, md5, sha512, store_dir=IMAGE_DIR):
    image = client.get_image(image_id)
    assert (image["size"], image["checksum"], image["os_hash_value"]) == (size, md5, sha512), image
    assert _sums(host, "%s/%s" % (store_dir, image_id)) == (size, md5, sha512)
    assert client.download(image_id) == (size, md5, sha512)
    return image


def copy_to_cold(host, admin, image_id, sent):
    """copy-image from store fs to cold as admin; both copies must hold the
    bytes ``sent`` (an upload result)."""
    admin.import_image(image_id, "copy-image", stores=["cold"])
    deadline = time.time() + 300
    while sorted(admin.get_image(image_id).get("stores", "").split(",")) != ["cold", "fs"]:
        assert time.time() < deadline, admin.get_image(image_id)
        time.sleep(0.5)
    assert _sums(host, "%s/%s" % (COLD_DIR, image_id)) == (sent.size, sent.md5, sent.sha512)
    _assert_stored(host, admin, image_id, sent.size, sent.md5, sent.sha512)


def _report(what, **figures):
    record("keystone: " + what, **figures)


def test_glance_is_registered_in_keystone(host):
    admin_token = token(ADMIN)
    request = urllib.request.Request(KEYSTONE + "/endpoints", headers={"X-Auth-Token": admin_token})
    with urllib.request.urlopen(request, timeout=30) as response:
        endpoints = json.loads(response.read())["endpoints"]
    urls = sorted((e["interface"], e["url"]) for e in endpoints if e["url"].startswith(GLANCE))
    assert urls == [("internal", GLANCE), ("public", GLANCE)], urls
    # The service user authenticates with the password the role set.
    assert token(("glance", "glance-service-test", "service"))


def test_no_token_is_401_naming_the_public_keystone():
    try:
        urllib.request.urlopen(GLANCE + "/v2/images", timeout=30)
        raise AssertionError("no token was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 401
        assert error.headers["WWW-Authenticate"] == 'Keystone uri="%s"' % KEYSTONE


def test_an_invalid_token_is_401():
    with pytest.raises(GlanceError) as raised:
        GlanceClient(GLANCE, token="gAAAAABnot-a-real-token").request("GET", "/v2/images")
    assert raised.value.status == 401


def test_a_reader_cannot_create_an_image(reader):
    with pytest.raises(GlanceError) as raised:
        reader.create_image("hwg-reader-create")
    assert raised.value.status == 403
    _report("reader creates an image", status=403)


def test_a_member_cannot_publicize(member):
    with pytest.raises(GlanceError) as raised:
        member.create_image("hwg-member-public", extra={"visibility": "public"})
    assert raised.value.status == 403
    _report("member creates a public image", status=403)


def test_a_member_uploads_chunked_into_their_project(host, member):
    result = upload_and_check(host, GLANCE, "keystone-member-chunked", 64 * MIB,
                              client_options={"token": member.headers["X-Auth-Token"]})
    _report("member legacy chunked upload", status=result.status, mib_per_s=round(result.mib_per_second, 1))


def test_glance_direct_stages_chunked_then_imports(host, member):
    image = member.create_image("hwg-glance-direct")
    assert image["owner"]
    staged = member.upload(image["id"], random_blocks(64 * MIB), transfer="chunked", target="stage")
    assert staged.status == 204, staged.body
    assert member.get_image(image["id"])["status"] == "uploading"
    started = time.time()
    member.import_image(image["id"], "glance-direct")
    member.wait_for_status(image["id"], "active", timeout=300)
    imported = time.time() - started
    _assert_stored(host, member, image["id"], staged.size, staged.md5, staged.sha512)
    assert host.run("ls -A %s" % STAGING_DIR).stdout.strip() == "", "staging data left behind"
    _report("glance-direct 64 MiB (member)", stage_mib_s=round(staged.mib_per_second, 1),
            import_s=round(imported, 1))
    member.delete_image(image["id"])


def test_web_download_within_the_filter(host, member, web):
    size, md5, sha512 = _sums(host, "/srv/hwg-web/random.raw")
    image = member.create_image("hwg-web-download")
    started = time.time()
    member.import_image(image["id"], "web-download", uri=web + "/random.raw")
    member.wait_for_status(image["id"], "active", timeout=300)
    _assert_stored(host, member, image["id"], size, md5, sha512)
    _report("web-download 48 MiB (member)", seconds=round(time.time() - started, 1))
    member.delete_image(image["id"])


def test_web_download_outside_the_filter_is_refused_and_the_image_stays_importable(host, member, web):
    size, md5, sha512 = _sums(host, "/srv/hwg-web/random.raw")
    image = member.create_image("hwg-web-download-refused")
    with pytest.raises(GlanceError) as raised:
        member.import_image(image["id"], "web-download", uri="http://127.0.0.1:29699/random.raw")
    assert raised.value.status == 400
    assert "does not pass filtering" in raised.value.body.decode()
    assert member.get_image(image["id"])["status"] == "queued"
    member.import_image(image["id"], "web-download", uri=web + "/random.raw")
    member.wait_for_status(image["id"], "active", timeout=300)
    _assert_stored(host, member, image["id"], size, md5, sha512)
    _report("web-download of a port the filter refuses", status=400, then="re-imported, active")
    member.delete_image(image["id"])


def test_copy_image_is_admin_only_and_copies_to_the_second_store(host, admin, member):
    image = member.create_image("hwg-copy-image")
    sent = member.upload(image["id"], random_blocks(32 * MIB), transfer="chunked")
    assert sent.status == 204
    member.wait_for_status(image["id"], "active")
    with pytest.raises(GlanceError) as raised:
        member.import_image(image["id"], "copy-image", stores=["cold"])
    assert raised.value.status == 403
    copy_to_cold(host, admin, image["id"], sent)
    _report("copy-image fs -> cold", member_status=403, admin="copied, checksums match")
    admin.delete_image(image["id"])
    assert not host.file("%s/%s" % (COLD_DIR, image["id"])).exists


def test_image_conversion_turns_qcow2_into_raw(host, member, web):
    host.check_output("cd /srv/hwg-web && head -c %d /dev/urandom > disk.raw"
                      " && qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2" % (16 * MIB))
    size, md5, sha512 = _sums(host, "/srv/hwg-web/disk.raw")
    image = member.create_image("hwg-conversion", disk_format="qcow2")
    member.import_image(image["id"], "web-download", uri=web + "/disk.qcow2")
    member.wait_for_status(image["id"], "active", timeout=300)
    stored = _assert_stored(host, member, image["id"], size, md5, sha512)
    assert stored["disk_format"] == "raw"
    _report("image_conversion qcow2 -> raw (web-download)", disk_format=stored["disk_format"], size=size)
    member.delete_image(image["id"])


@pytest.mark.parametrize("client, command", [
    ("glanceclient legacy upload (chunked)",
     "glance image-create --name hwg-cli-glance --disk-format raw --container-format bare --file {f}"),
    ("glanceclient glance-direct",
     "glance image-create-via-import --name hwg-cli-direct --disk-format raw --container-format bare"
     " --import-method glance-direct --file {f}"),
    ("openstackclient legacy upload",
     "openstack image create --disk-format raw --container-format bare --file {f} -f json hwg-cli-osc"),
    ("openstackclient --import (glance-direct)",
     "openstack image create --import --disk-format raw --container-format bare --file {f} -f json hwg-cli-osc-import"),
])
def test_real_clients_with_real_tokens(host, member, client, command):
    host.check_output("head -c %d /dev/urandom > /tmp/hwg-cli.raw" % (24 * MIB))
    size, md5, sha512 = _sums(host, "/tmp/hwg-cli.raw")
    # A terminal for stdin: glanceclient refuses --file with glance-direct when
    # stdin is not one ("You cannot use both --file and stdin").
    output = host.check_output("script -qec %s /dev/null" % shlex.quote(
        "%s %s" % (OS_ENV.format(*MEMBER), command.format(f="/tmp/hwg-cli.raw")))).replace("\r", "")
    if output.lstrip().startswith("{"):
        image_id = json.loads(output)["id"]
    else:
        image_id = [line.split("|")[2].strip() for line in output.splitlines() if line.startswith("| id ")][0]
    member.wait_for_status(image_id, "active", timeout=300)
    _assert_stored(host, member, image_id, size, md5, sha512)
    _report(client, size=size, result="active, checksums match")
    member.delete_image(image_id)


def test_verify_playbook_imports_with_keystone_credentials(host, web):
    """httpd_wsgi.glance.verify with a member's credentials (image_upload's
    auth, through keystoneauth1 on the Glance host): both legacy uploads,
    glance-direct (asked for by glance_wsgi_import_methods) and web-download
    of the test server's file, each active with matching hashes and deleted."""
    extra = {"glance_verify_hosts": "all", "glance_verify_size_mib": 32,
             "glance_verify_web_download_uri": web + "/random.raw",
             "glance_verify_auth": {"auth_url": KEYSTONE, "username": MEMBER[0], "password": MEMBER[1],
                                    "project_name": MEMBER[2]}}
    run = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(extra),
                          "httpd_wsgi.glance.verify"],
                         capture_output=True, text=True, timeout=1800, env=_ansible_env(), check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert MEMBER[1] not in run.stdout + run.stderr
    tasks = json.loads(run.stdout)["plays"][0]["tasks"]
    results = {}
    for task in tasks:
        for outcome in task["hosts"].values():
            for item in outcome.get("results", []):
                if "image_id" in item:
                    results[item["item"]] = item
    assert sorted(results) == ["chunked", "content_length", "glance-direct", "web-download"], results
    for name, item in results.items():
        assert item["status"] == "active" and item["download_matched"] and item["deleted"], item
    size, md5, sha512 = _sums(host, "/srv/hwg-web/random.raw")
    fetched = results["web-download"]
    assert (fetched["size"], fetched["checksum"], fetched["os_hash_value"]) == (size, md5, sha512)
    assert results["glance-direct"]["stage_seconds"] > 0 and results["glance-direct"]["import_seconds"] > 0
    assert results["web-download"]["import_seconds"] > 0
    _report("verify playbook with Keystone credentials", transfers="chunked, content_length",
            glance_direct="stage %.2f s, import %.2f s" % (
                results["glance-direct"]["stage_seconds"], results["glance-direct"]["import_seconds"]),
            web_download="import %.2f s" % results["web-download"]["import_seconds"])
