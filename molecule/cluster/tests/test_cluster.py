"""Two Glance API nodes behind HAProxy (molecule.yml): distributed import
(data staged on one node, imported through the other, which proxies the
import to the node holding the data), and a rolling restart by
playbooks/rolling_restart.yml while chunked uploads run through HAProxy,
none of which may fail. Every upload is proven by what Glance stored: size,
md5 and sha512 of the bytes sent."""

import csv
import io
import json
import os
import subprocess
import threading
import time
import urllib.request

import testinfra

from tests.integration.upload_checks import MIB, _ansible_env, keystone_token, record

from glance_api import GlanceClient, GlanceError, random_blocks

testinfra_hosts = ["docker://hwg-cluster-a"]

HAPROXY = "http://127.0.0.1:29490"
STATS = "http://127.0.0.1:29491/stats;csv"
NODES = {"hwg-cluster-a": "http://127.0.0.1:29492", "hwg-cluster-b": "http://127.0.0.1:29482"}
KEYSTONE = "http://127.0.0.1:29495/v3"
MEMBER = ("demo-member", "demo-user-test", "demo")
STAGING_DIR = "/var/lib/glance/staging"
IMAGE_DIR = "/var/lib/glance/images"
ROLLING_UPLOADS = 20
ROLLING_SIZE = 64 * MIB
# Bytes per second of each rolling upload: about 2 s each, so that two
# senders keep uploads in flight all the time without taking the CPU the
# nodes need (CI runs other scenarios beside this one).
ROLLING_RATE = 32 * MIB
CLUSTER = []


def terminal_report(terminalreporter):
    """The cluster's figures (molecule/conftest.py prints them)."""
    if CLUSTER:
        terminalreporter.section("cluster: distributed import and rolling restart")
        for line in CLUSTER:
            terminalreporter.write_line(line)


def node(name):
    return testinfra.get_host("docker://" + name)


def token(user=MEMBER):
    return keystone_token(KEYSTONE, user)


def server_states():
    """HAProxy's view of each API node: {"hwg-cluster-a": "UP", ...}."""
    with urllib.request.urlopen(STATS, timeout=5) as response:
        text = response.read().decode("utf-8").lstrip("# ")
    return {row["svname"]: row["status"] for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == "glance_api" and row["svname"] in NODES}


def uwsgi_pid(name):
    return int(node(name).check_output("systemctl show -p MainPID --value glance-uwsgi"))


def staged_on(image_id):
    return [name for name in NODES if node(name).file("%s/%s" % (STAGING_DIR, image_id)).exists]


def assert_stored(client, image_id, size, md5, sha512):
    image = client.wait_for_status(image_id, "active", timeout=300)
    assert (image["size"], image["checksum"], image["os_hash_value"]) == (size, md5, sha512), image
    return image


def test_haproxy_sends_to_both_nodes():
    deadline = time.time() + 30
    while server_states() != {name: "UP" for name in NODES} and time.time() < deadline:
        time.sleep(1)
    assert server_states() == {name: "UP" for name in NODES}


def test_the_shared_database_schema_is_current_on_both_nodes():
    for name in NODES:
        assert node(name).run("runuser -u glance -- glance-manage db check").rc == 0


def test_import_staged_on_one_node_runs_through_the_other():
    """glance-direct: the data is staged on node A (its own staging
    directory), the import call goes to node B, which proxies it to A's
    worker_self_reference_url; the image ends active with the bytes sent."""
    tok = token()
    node_a = GlanceClient(NODES["hwg-cluster-a"], token=tok, timeout=600)
    node_b = GlanceClient(NODES["hwg-cluster-b"], token=tok, timeout=600)
    size = 32 * MIB
    image = node_a.create_image("hwg-cluster-distributed")
    staged = node_a.upload(image["id"], random_blocks(size), target="stage")
    assert staged.status == 204, staged.body
    assert staged_on(image["id"]) == ["hwg-cluster-a"]
    started = time.time()
    node_b.import_image(image["id"], "glance-direct")
    assert_stored(node_b, image["id"], size, staged.md5, staged.sha512)
    imported = time.time() - started
    assert staged_on(image["id"]) == []
    assert GlanceClient(HAPROXY, token=tok, timeout=600).download(image["id"]) == (size, staged.md5, staged.sha512)
    # Node B never had the data: only A's import, proxied there by B, could
    # have read it.
    node_a.delete_image(image["id"])
    CLUSTER.append("staged on node A, imported through node B: active, checksums match, import %.1f s" % imported)


def test_imports_through_haproxy():
    """Stage and import through the balancer, which may send the two calls
    to different nodes: every image ends active with the bytes sent."""
    tok = token()
    balancer = GlanceClient(HAPROXY, token=tok, timeout=600)
    holders = []
    for _round in range(4):
        image = balancer.create_image("hwg-cluster-import")
        staged = balancer.upload(image["id"], random_blocks(16 * MIB), target="stage")
        assert staged.status == 204, staged.body
        holders += staged_on(image["id"])
        balancer.import_image(image["id"], "glance-direct")
        assert_stored(balancer, image["id"], 16 * MIB, staged.md5, staged.sha512)
        balancer.delete_image(image["id"])
    CLUSTER.append("4 glance-direct imports through HAProxy: all active; staged on %s"
                   % ", ".join("%s x%d" % (name, holders.count(name)) for name in NODES))


class UploadLoop:
    """Threads that send chunked uploads through HAProxy until stopped,
    each result kept with its start and end times."""

    def __init__(self, workers=2):
        self.token = token()
        self.stop = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _worker in range(workers)]

    def run(self):
        client = GlanceClient(HAPROXY, token=self.token, timeout=600)
        while not self.stop.is_set():
            started = time.time()
            entry = {"started": started}
            try:
                image = client.create_image("hwg-cluster-rolling")
                entry["id"] = image["id"]
                result = client.upload(image["id"], random_blocks(ROLLING_SIZE), transfer="chunked",
                                       rate_limit=ROLLING_RATE)
                entry.update(status=result.status, md5=result.md5, sha512=result.sha512, body=result.body)
            except (OSError, GlanceError) as error:
                entry["error"] = repr(error)
            entry["ended"] = time.time()
            with self.lock:
                self.results.append(entry)

    def count(self):
        with self.lock:
            return len(self.results)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=600)


class StatePoller(threading.Thread):
    """Reads HAProxy's view of the nodes every 0.2 s; keeps the changes."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.changes = []

    def run(self):
        last = {}
        while not self.stop.is_set():
            try:
                states = server_states()
            except OSError:
                states = {}
            for name, state in states.items():
                if last.get(name) != state:
                    self.changes.append((time.time(), name, state))
            last = states or last
            time.sleep(0.2)

    def windows(self, name):
        """(went down, came back up) times of the node."""
        out, down = [], None
        for when, who, state in self.changes:
            if who != name:
                continue
            if not state.startswith("UP") and down is None:
                down = when
            elif state.startswith("UP") and down is not None:
                out.append((down, when))
                down = None
        return out


def rolling_under_uploads(label, playbook, extra_vars=None):
    """Run the playbook over both nodes while chunked uploads go through
    HAProxy; every upload must succeed with the bytes sent, each node must
    have been restarted while out of the balancer, one after the other, with
    uploads running as it left."""
    pids = {name: uwsgi_pid(name) for name in NODES}
    poller = StatePoller()
    poller.start()
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], playbook]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    with UploadLoop() as loop:
        while loop.count() < 3:
            time.sleep(0.2)
        started = time.time()
        play = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False,
                              env=_ansible_env())
        play_seconds = time.time() - started
        after = loop.count()
        while loop.count() < max(ROLLING_UPLOADS, after + 2):
            time.sleep(0.2)
    poller.stop.set()
    poller.join()
    assert play.returncode == 0, play.stdout[-3000:] + play.stderr[-3000:]

    failed = [entry for entry in loop.results if entry.get("status") != 204]
    assert not failed, failed
    checker = GlanceClient(HAPROXY, token=loop.token, timeout=600)
    for entry in loop.results:
        assert_stored(checker, entry["id"], ROLLING_SIZE, entry["md5"], entry["sha512"])
        checker.delete_image(entry["id"])

    # Each node was restarted, out of the balancer, one after the other.
    assert all(uwsgi_pid(name) != pid for name, pid in pids.items())
    windows = {name: poller.windows(name) for name in NODES}
    assert all(len(found) == 1 for found in windows.values()), poller.changes
    (a_down, a_up), (b_down, b_up) = windows["hwg-cluster-a"][0], windows["hwg-cluster-b"][0]
    assert a_up <= b_down or b_up <= a_down, "both nodes were out of the balancer at once: %r" % poller.changes
    # Uploads were running when each node left the balancer.
    in_flight = {name: sum(1 for entry in loop.results if entry["started"] < down < entry["ended"])
                 for name, ((down, _up),) in windows.items()}
    assert all(count > 0 for count in in_flight.values()), in_flight

    slowest = max(entry["ended"] - entry["started"] for entry in loop.results)
    record("cluster " + label, uploads=len(loop.results), failed=len(failed), slowest_s=round(slowest, 2),
           play_s=round(play_seconds, 1))
    CLUSTER.append("%s (%.0f s): %d chunked uploads of %d MiB through HAProxy, %d failed, slowest %.1f s"
                   % (label, play_seconds, len(loop.results), ROLLING_SIZE // MIB, len(failed), slowest))
    for name in NODES:
        down, up = windows[name][0]
        CLUSTER.append("  %s out of HAProxy for %.1f s; %d uploads in flight as it left"
                       % (name, up - down, in_flight[name]))
    return play


def test_rolling_restart_fails_no_upload():
    rolling_under_uploads("rolling restart", "httpd_wsgi.glance.rolling_restart")


def test_rolling_converge_of_a_uwsgi_change_fails_no_upload():
    """The site playbook one node at a time (glance_wsgi_serial=1) with a
    changed uWSGI option: uWSGI must restart, and the role drains each node
    first (glance_wsgi_drain_on_restart auto)."""
    play = rolling_under_uploads("rolling converge, uWSGI option changed", "httpd_wsgi.glance.site",
                                 {"glance_wsgi_serial": 1, "glance_wsgi_uwsgi_options": {"max-requests": 100000}})
    assert "Take this node out of its balancer before the restart" in play.stdout
    for name in NODES:
        assert "max-requests = 100000" in node(name).file("/etc/uwsgi/glance-uwsgi.ini").content_string


ADMIN = ("admin", "keystone-admin-test", "admin")
LOSS_SIZE = 64 * MIB
LOSS_RATE = 8 * MIB            # bytes per second: each upload lasts about 8 s
CLEANUP_AGE = 60               # the smallest older_than stale_uploads accepts


def slow_uploads(tok, count=4):
    """Start ``count`` slow chunked uploads through HAProxy (leastconn
    spreads them over both nodes); return the threads and their results."""
    results = []

    def one():
        client = GlanceClient(HAPROXY, token=tok, timeout=600)
        entry = {}
        try:
            entry["id"] = client.create_image("hwg-cluster-loss")["id"]
            result = client.upload(entry["id"], random_blocks(LOSS_SIZE), transfer="chunked", rate_limit=LOSS_RATE)
            entry.update(status=result.status, node=result.headers.get("x-glance-node"), md5=result.md5,
                         sha512=result.sha512, body=result.body[:300])
        except (OSError, GlanceError) as error:
            entry.update(status=None, error=repr(error))
        results.append(entry)

    threads = [threading.Thread(target=one, daemon=True) for _upload in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(0.3)
    return threads, results


def wait_state(name, wanted, timeout):
    """Seconds until HAProxy shows the node in ``wanted`` (UP or DOWN)."""
    started = time.time()
    while time.time() - started < timeout:
        if server_states().get(name, "").split()[0] == wanted:
            return time.time() - started
        time.sleep(0.1)
    raise AssertionError("HAProxy did not mark %s %s within %d s: %r" % (name, wanted, timeout, server_states()))


def check_loss(results, lost, tok):
    """Only the uploads the lost node served failed, each with an answer the
    client can read; the others' images hold the bytes sent."""
    failed = [entry for entry in results if entry["status"] != 204]
    assert failed, "no upload was running on %s: %r" % (lost, results)
    assert all(entry.get("node") in (lost, None) for entry in failed), results
    survived = [entry for entry in results if entry["status"] == 204]
    assert survived and all(entry["node"] != lost for entry in survived), results
    client = GlanceClient(HAPROXY, token=tok, timeout=600)
    for entry in survived:
        assert_stored(client, entry["id"], LOSS_SIZE, entry["md5"], entry["sha512"])
    return failed, survived


def cleanup_from(survivor, tok, dry_run):
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(dict(
            glance_cleanup_hosts=survivor, glance_cleanup_older_than=CLEANUP_AGE, glance_cleanup_token=tok,
            glance_cleanup_dry_run=dry_run)), "httpd_wsgi.glance.cleanup_stale_uploads"],
        capture_output=True, text=True, timeout=600, check=False,
        env=dict(_ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return list(json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"].values())[0]


def test_node_loss_fails_only_that_nodes_uploads():
    """SIGKILL of node A's uWSGI master, then node B's whole container
    killed, each during slow uploads through HAProxy: only the lost node's
    uploads fail, the balancer takes it out, later uploads succeed on the
    other node, and stale_uploads run from the survivor removes the images
    the losses left in saving (their partial files with them)."""
    tok, admin = token(), token(ADMIN)
    balancer = GlanceClient(HAPROXY, token=tok, timeout=600)
    left = []

    # 1. uWSGI's master on node A killed; systemd starts it again.
    threads, results = slow_uploads(tok)
    time.sleep(2)
    killed = time.time()
    node("hwg-cluster-a").check_output("kill -KILL $(systemctl show -p MainPID --value glance-uwsgi)")
    try:
        a_down = wait_state("hwg-cluster-a", "DOWN", 15)
    except AssertionError:
        a_down = None  # systemd had it back before two checks failed: reported as such
    for thread in threads:
        thread.join(timeout=120)
    failed, survived = check_loss(results, "hwg-cluster-a", tok)
    left += [entry["id"] for entry in failed if entry.get("id")]
    wait_state("hwg-cluster-a", "UP", 120)
    answers = ", ".join(sorted(set(str(entry["status"] or entry.get("error", "")[:40]) for entry in failed)))
    seen = ("marked A down %.1f s after the kill" % a_down if a_down is not None
            else "saw A back before marking it down")
    CLUSTER.append("uWSGI master SIGKILLed on node A: %d uploads failed there (%s), %d succeeded on node B; HAProxy %s"
                   % (len(failed), answers, len(survived), seen))

    # 2. Node B's container killed (every process, as a power loss would).
    threads, results = slow_uploads(tok)
    time.sleep(2)
    killed = time.time()
    subprocess.run(["docker", "kill", "hwg-cluster-b"], check=True, capture_output=True)
    b_down = wait_state("hwg-cluster-b", "DOWN", 30)
    for thread in threads:
        thread.join(timeout=120)
    failed, survived = check_loss(results, "hwg-cluster-b", tok)
    left += [entry["id"] for entry in failed if entry.get("id")]
    # Later uploads go to node A.
    for _round in range(2):
        image = balancer.create_image("hwg-cluster-after-loss")
        result = balancer.upload(image["id"], random_blocks(16 * MIB), transfer="chunked")
        assert result.status == 204 and result.headers.get("x-glance-node") == "hwg-cluster-a", result.body
        assert_stored(balancer, image["id"], 16 * MIB, result.md5, result.sha512)
        balancer.delete_image(image["id"])
    answers = ", ".join(sorted(set(str(entry["status"] or entry.get("error", "")[:40]) for entry in failed)))
    CLUSTER.append("node B's container killed: %d uploads failed there (%s), %d succeeded on node A; HAProxy marked "
                   "B down %.1f s after the kill; later uploads went to node A"
                   % (len(failed), answers, len(survived), b_down))

    # 3. What the losses left, cleaned from node A. Active images stay.
    keep = balancer.create_image("hwg-cluster-keep")["id"]
    kept = balancer.upload(keep, random_blocks(MIB), transfer="chunked")
    assert kept.status == 204
    stale = [balancer.get_image(image_id) for image_id in left]
    assert all(image["status"] in ("saving", "queued") for image in stale), stale
    time.sleep(max(0.0, CLEANUP_AGE + 2 - (time.time() - killed)))
    dry = cleanup_from("hwg-cluster-a", admin, True)
    assert set(left) <= {entry["id"] for entry in dry["stale_images"]}, dry
    done = cleanup_from("hwg-cluster-a", admin, False)
    assert set(left) <= {entry["id"] for entry in done["stale_images"] if entry["deleted"]}, done
    for image_id in left:
        try:
            balancer.get_image(image_id)
            raise AssertionError("image %s is still there" % image_id)
        except GlanceError as error:
            assert error.status == 404
        assert not node("hwg-cluster-a").file("%s/%s" % (IMAGE_DIR, image_id)).exists
    assert_stored(balancer, keep, MIB, kept.md5, kept.sha512)
    balancer.delete_image(keep)
    CLUSTER.append("stale_uploads from node A deleted the %d images the losses left (and their partial files); "
                   "the active image stayed" % len(left))

    # Node B comes back with its container: systemd starts Apache and uWSGI.
    subprocess.run(["docker", "start", "hwg-cluster-b"], check=True, capture_output=True)
    back = wait_state("hwg-cluster-b", "UP", 180)
    CLUSTER.append("node B's container started again: HAProxy sent to it again after %.0f s" % back)
