"""Two Glance API nodes behind HAProxy (molecule.yml): distributed import
(data staged on one node, imported through the other, which proxies the
import to the node holding the data), and a rolling restart by
playbooks/rolling_restart.yml while chunked uploads run through HAProxy,
none of which may fail. Every upload is proven by what Glance stored: size,
md5 and sha512 of the bytes sent."""

import csv
import datetime
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
# Bytes per second of each rolling upload: about 8 s each, so that two
# senders keep uploads in flight all the time without taking the CPU the
# nodes and the other scenarios CI runs beside this one need.
ROLLING_RATE = 8 * MIB
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


def import_finished(client, image_id, timeout=60):
    """Wait until the import task has let go of the image: Glance marks the
    image active before it drops its task lock (the os_glance_import_task
    property), and a delete that races that last update hit a database
    deadlock under load, which Glance 25.1's retry turns into a 500."""
    deadline = time.time() + timeout
    while "os_glance_import_task" in client.get_image(image_id):
        assert time.time() < deadline, "the import task still holds image %s" % image_id
        time.sleep(0.5)


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
    import_finished(node_a, image["id"])
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
        import_finished(balancer, image["id"])
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


def play(*args, extra_vars=None, limit=None, adhoc=False):
    """ansible-playbook (or, adhoc, ansible) over the scenario's inventory;
    stdout is the json callback's report."""
    command = ["ansible" if adhoc else "ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if limit:
        command += ["--limit", limit]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=1800, check=False,
                          env=_ansible_env())


def changed_at(run, task_name):
    """{host: epoch seconds} at which the named task started, on each host it
    changed, from the json callback's report (one play per serial batch)."""
    found = {}
    for one_play in json.loads(run.stdout)["plays"]:
        for task in one_play["tasks"]:
            # A role's task is named "ROLE : NAME".
            if task["task"]["name"].split(" : ")[-1] != task_name:
                continue
            started = datetime.datetime.fromisoformat(task["task"]["duration"]["start"]).timestamp()
            for host, result in task["hosts"].items():
                if result.get("changed"):
                    found[host] = started
    return found


def failure_text(run):
    return run.stdout[-4000:] + run.stderr[-2000:]


def schema_state():
    """The rows of the shared database's alembic_version (one per branch)."""
    out = subprocess.run(["docker", "exec", "hwg-cluster-infra", "mysql", "-N", "-B", "glance", "-e",
                          "SELECT version_num FROM alembic_version"], capture_output=True, text=True, check=True)
    return sorted(out.stdout.split())


def running_uwsgi(name):
    """The program the node's uWSGI master runs (read from /proc: its exe
    link needs CAP_SYS_PTRACE)."""
    return node(name).check_output("tr '\\0' ' ' < /proc/%d/cmdline" % uwsgi_pid(name)).split()[0]


def db_check(name, manage):
    return node(name).run("runuser -u glance -- %s db check" % manage).rc


def rolling_under_uploads(label, *steps):
    """Run the steps (callables that run playbooks and return the restart
    times they caused, {host: epoch seconds}) while chunked uploads go
    through HAProxy. Every upload must succeed with the bytes sent; each node
    must have restarted once, while out of the balancer, one after the
    other, with uploads running as it left. Returns the state poller."""
    pids = {name: uwsgi_pid(name) for name in NODES}
    poller = StatePoller()
    poller.start()
    restarts = {}
    with UploadLoop() as loop:
        while loop.count() < 3:
            time.sleep(0.2)
        started = time.time()
        try:
            for step in steps:
                restarts.update(step())
        finally:
            play_seconds = time.time() - started
            after = loop.count()
            while loop.count() < max(ROLLING_UPLOADS, after + 2):
                time.sleep(0.2)
            poller.stop.set()
            poller.join()

    failed = [entry for entry in loop.results if entry.get("status") != 204]
    assert not failed, failed
    checker = GlanceClient(HAPROXY, token=loop.token, timeout=600)
    for entry in loop.results:
        assert_stored(checker, entry["id"], ROLLING_SIZE, entry["md5"], entry["sha512"])
        checker.delete_image(entry["id"])

    # Each node restarted once, while out of the balancer, one after the
    # other. A window without a restart in it is a failed health check
    # (a busy machine): reported, not a drain.
    assert all(uwsgi_pid(name) != pid for name, pid in pids.items())
    assert sorted(restarts) == sorted(NODES), restarts
    drains, flaps = {}, {}
    for name in NODES:
        windows = poller.windows(name)
        holding = [window for window in windows if window[0] <= restarts[name] <= window[1]]
        assert len(holding) == 1, "%s restarted at %.1f outside its drain: %r" % (name, restarts[name], poller.changes)
        drains[name] = holding[0]
        flaps[name] = len(windows) - 1
    (a_down, a_up), (b_down, b_up) = drains["hwg-cluster-a"], drains["hwg-cluster-b"]
    assert a_up <= b_down or b_up <= a_down, "both nodes were out of the balancer at once: %r" % poller.changes
    # Uploads were running when each node left the balancer.
    in_flight = {name: sum(1 for entry in loop.results if entry["started"] < down < entry["ended"])
                 for name, (down, _up) in drains.items()}
    assert all(count > 0 for count in in_flight.values()), in_flight

    slowest = max(entry["ended"] - entry["started"] for entry in loop.results)
    record("cluster " + label, uploads=len(loop.results), failed=len(failed), slowest_s=round(slowest, 2),
           play_s=round(play_seconds, 1))
    CLUSTER.append("%s (%.0f s of playbooks): %d chunked uploads of %d MiB through HAProxy, %d failed, slowest %.1f s"
                   % (label, play_seconds, len(loop.results), ROLLING_SIZE // MIB, len(failed), slowest))
    for name in NODES:
        down, up = drains[name]
        CLUSTER.append("  %s out of HAProxy for %.1f s; %d uploads in flight as it left%s"
                       % (name, up - down, in_flight[name],
                          "; %d failed health check(s) outside the drain" % flaps[name] if flaps[name] else ""))


BALANCERS = [{"host": "hwg-cluster-infra", "socket": "/run/haproxy/admin.sock", "backend": "glance_api"}]


def test_rolling_restart_through_the_haproxy_socket_fails_no_upload():
    """playbooks/rolling_restart.yml with glance_wsgi_haproxy_balancers: each
    node is set to DRAIN through HAProxy's admin socket, then MAINT once
    idle, restarted, and set back to READY once it answers."""
    def restart():
        run = play("httpd_wsgi.glance.rolling_restart", extra_vars={"glance_wsgi_haproxy_balancers": BALANCERS})
        assert run.returncode == 0, failure_text(run)
        return changed_at(run, "Restart Glance's uWSGI service")

    since = int(time.time()) - 1
    rolling_under_uploads("rolling restart, drained through HAProxy's admin socket", restart)
    # HAProxy's own log of each change of state: a node left without
    # sessions is in DRAIN for milliseconds, too short for the stats poller.
    log = subprocess.run(["docker", "exec", "hwg-cluster-infra", "journalctl", "-u", "haproxy", "-o", "cat",
                          "--no-pager", "--since", "@%d" % since], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    for name in NODES:
        drain = log.find("Server glance_api/%s enters drain state" % name)
        maint = log.find("Server glance_api/%s is going DOWN for maintenance" % name)
        assert 0 <= drain < maint, log
        # MAINT came only once the node was idle.
        assert "0 sessions active" in log[maint:].splitlines()[0], log


UPGRADE = {"glance_wsgi_install_method": "venv", "glance_wsgi_uwsgi_options": {"max-requests": 100000}}
PACKAGED_UWSGI = "/usr/bin/uwsgi-core"
VENV = "/opt/glance/glance-33.0.0"
UWSGI_RESTART = "Restart uWSGI on the new ini, unit or binary"
GLANCE_FILES = ["/etc/glance/glance-api.conf", "/etc/glance/glance-api-paste.ini", "/etc/uwsgi/glance-uwsgi.ini",
                "/usr/local/share/glance-wsgi/uwsgi-app.py"]


def glance_files(name):
    """{path: md5} of the files the node's Glance and uWSGI read."""
    return {path: node(name).file(path).md5sum if node(name).file(path).exists else None for path in GLANCE_FILES}


def test_a_failed_upgrade_leaves_the_node_on_its_release_and_files():
    """The upgrade of node A fails after the new release's glance-api.conf
    and paste pipeline are written (its database cannot be reached): they
    are put back, uWSGI was never restarted, and a restart afterwards runs
    the old release on its own files and takes uploads."""
    name = "hwg-cluster-a"
    before = glance_files(name)
    pid = uwsgi_pid(name)
    broken = dict(UPGRADE, glance_wsgi_database_connection=(
        "mysql+pymysql://glance:not-the-password@127.0.0.1:29498/glance"))
    run = play("httpd_wsgi.glance.rolling_upgrade", extra_vars=broken, limit=name)
    assert run.returncode != 0, failure_text(run)
    assert "Check whether the database schema is current] failed" in run.stdout, failure_text(run)
    assert "/etc/glance/glance-api.conf, /etc/glance/glance-api-paste.ini are back in place" in run.stdout, \
        failure_text(run)
    assert glance_files(name) == before
    assert not node(name).run("ls /etc/glance/*~ 2>/dev/null").stdout.strip()
    assert uwsgi_pid(name) == pid and running_uwsgi(name) == PACKAGED_UWSGI
    assert node(name).file(VENV + "/bin/glance-manage").exists
    # What the restored files are for: the next restart of the old release.
    node(name).check_output("systemctl restart glance-uwsgi")
    client = GlanceClient(NODES[name], token=token(), timeout=600)
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(NODES[name] + "/healthcheck", timeout=10) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        assert time.time() < deadline, "node A did not answer after the restart"
        time.sleep(1)
    image = client.create_image("hwg-cluster-after-failed-upgrade")
    result = client.upload(image["id"], random_blocks(16 * MIB), transfer="chunked")
    assert result.status == 204, result.body
    assert_stored(client, image["id"], 16 * MIB, result.md5, result.sha512)
    client.delete_image(image["id"])
    assert running_uwsgi(name) == PACKAGED_UWSGI
    CLUSTER.append("failed upgrade of node A (database unreachable): glance-api.conf and the paste pipeline put "
                   "back, uWSGI not restarted; after a restart the old release took a 16 MiB upload")


def test_rolling_upgrade_fails_no_upload():
    """playbooks/rolling_upgrade.yml from Debian 12's Glance 25.1 packages to
    Glance 33.0.0 in a virtualenv (and a changed uWSGI option), on Glance's
    zero-downtime database path, with uploads running through HAProxy: node
    A alone first (--limit), when the contract must refuse to run; then the
    contract entry point over both nodes, refused while B runs 25.1; then
    the whole playbook, which upgrades B and contracts the schema once."""
    before = schema_state()
    middle = {}

    def node_a_alone():
        run = play("httpd_wsgi.glance.rolling_upgrade", extra_vars=UPGRADE, limit="hwg-cluster-a")
        assert run.returncode != 0, "the contract ran with node B left out"
        assert "hwg-cluster-b is not in this play" in run.stdout, failure_text(run)
        assert changed_at(run, "Contract the database schema, once") == {}
        middle.update(schema=schema_state(), a=running_uwsgi("hwg-cluster-a"), b=running_uwsgi("hwg-cluster-b"),
                      a_check=db_check("hwg-cluster-a", VENV + "/bin/glance-manage"),
                      b_check=db_check("hwg-cluster-b", "glance-manage"), a_pid=uwsgi_pid("hwg-cluster-a"))
        refused = play("glance_api", "-m", "ansible.builtin.include_role", "-a",
                       "name=httpd_wsgi.glance.glance_wsgi tasks_from=database_contract.yml", "--become",
                       extra_vars=UPGRADE, adhoc=True)
        assert refused.returncode != 0 and "hwg-cluster-b has no Glance" in refused.stdout, failure_text(refused)
        assert schema_state() == middle["schema"]
        return changed_at(run, UWSGI_RESTART)

    def whole_playbook():
        run = play("httpd_wsgi.glance.rolling_upgrade", extra_vars=UPGRADE)
        assert run.returncode == 0, failure_text(run)
        assert list(changed_at(run, "Contract the database schema, once")) != []
        return changed_at(run, UWSGI_RESTART)

    rolling_under_uploads("rolling upgrade, Glance 25.1 packages to 33.0.0 in a virtualenv", node_a_alone,
                          whole_playbook)
    after = schema_state()
    # Between the runs: A ran the new release on the expanded and migrated
    # schema, B the old one on the same database.
    assert middle["a"] == VENV + "/bin/uwsgi" and middle["b"] == PACKAGED_UWSGI, middle
    assert (middle["a_check"], middle["b_check"]) == (5, 0), middle
    assert any(v.startswith("2024_1_expand") for v in middle["schema"]), middle
    assert not any(v.startswith("2024_1_contract") for v in middle["schema"]), middle
    assert any(v.startswith("2024_1_contract") for v in after), after
    # A restarted once, in its own run; the whole playbook left it alone.
    assert uwsgi_pid("hwg-cluster-a") == middle["a_pid"]
    for name in NODES:
        assert running_uwsgi(name) == VENV + "/bin/uwsgi"
        assert db_check(name, VENV + "/bin/glance-manage") == 0
        assert "max-requests = 100000" in node(name).file("/etc/uwsgi/glance-uwsgi.ini").content_string
    CLUSTER.append("  schema: %s before, %s after node A, %s at the end; between the runs A (33.0.0) found a "
                   "contract pending and B (25.1) the schema current" % (before, middle["schema"], after))


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
