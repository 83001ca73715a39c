"""Faults while chunked uploads are in flight, cleanup of what a fault left,
load, and the unit's exposure score.

Each fault test streams a chunked upload of random data through Apache at a
throttled rate, lets a quarter of it through, applies the fault, and records
the client's result, the image's final status, whether Glance stored exactly
the bytes sent, and whether partial data was left on disk. Graceful
operations must lose nothing; a worker killed with SIGKILL must fail the
upload without leaving an active image. The tests run in file order: the
cleanup test removes what the SIGKILL test left.
"""

import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from tests.integration.upload_checks import (  # noqa: F401
    IMAGE_DIR, MIB, upload_and_check)

from tests.integration.bad_input_host import BAD_TLS_DIR, HOST_CASES

from glance_api import GlanceClient, GlanceError, random_blocks

# This scenario's own ports (see molecule.yml), so it can run beside another.
APACHE = "http://127.0.0.1:29392"
FAULT_SIZE = 512 * MIB
FAULT_RATE = 32 * MIB          # bytes/s: 16 s per upload, the fault lands after about 4 s
SLOW_RATE = 8 * MIB            # for the role run, which takes longer than a reload
UNIT = "glance-uwsgi.service"
INI = "/etc/uwsgi/glance-uwsgi.ini"
CONF = "/etc/glance/glance-api.conf"
SITE = "/etc/apache2/sites-available/glance-api.conf"
FAULTS = []
LEFT_BEHIND = {}
CLEANUP_AGE = 60               # the smallest older_than stale_uploads accepts


def terminal_report(terminalreporter):
    """The fault table (molecule/conftest.py prints it)."""
    if not FAULTS:
        return
    terminalreporter.section("faults during in-flight chunked uploads")
    header = "| fault | upload | client result | final image status | stored bytes match | partial data on disk |"
    terminalreporter.write_line(header)
    terminalreporter.write_line("| --- | --- | --- | --- | --- | --- |")
    for row in FAULTS:
        terminalreporter.write_line("| %(fault)s | %(upload)s | %(client)s | %(status)s | %(match)s | %(partial)s |" % row)


def _ansible_playbook(extra_vars, options=()):
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(extra_vars)]
        + list(options) + [str(scenario.parent / "shared" / "converge.yml")],
        capture_output=True, text=True, timeout=1800, check=False)


def _uwsgi_workers(host):
    master = host.check_output("systemctl show --property=MainPID --value %s" % UNIT)
    return [int(pid) for pid in host.check_output("pgrep -P %s" % master).split()]


def _cpu_ticks(host, pids):
    ticks = {}
    for pid in pids:
        fields = host.run("cat /proc/%d/stat" % pid).stdout.rsplit(")", 1)[-1].split()
        if fields:
            ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


def _busiest_worker(host):
    """The worker streaming the upload: the one whose CPU time grows most."""
    pids = _uwsgi_workers(host)
    first = _cpu_ticks(host, pids)
    time.sleep(1.0)
    second = _cpu_ticks(host, pids)
    return max(second, key=lambda pid: second[pid] - first.get(pid, 0))


def _upload_with_fault(host, name, fault, size=FAULT_SIZE, rate=FAULT_RATE, fault_at=0.25, after=None):
    """Stream an upload in a thread, call ``fault(host)`` once ``fault_at`` of
    it is sent, call ``after(host)`` once the upload has ended (to bring a
    stopped service back), and record what became of the upload."""
    client = GlanceClient(APACHE, timeout=900)
    image = client.create_image("hwg-fault-%s" % name)
    sent = {"bytes": 0}
    outcome = {}
    reached = threading.Event()

    def progress(count):
        sent["bytes"] = count
        if count >= size * fault_at:
            reached.set()

    def run():
        try:
            outcome["result"] = client.upload(image["id"], random_blocks(size), transfer="chunked", size=size,
                                              progress=progress, rate_limit=rate)
        except (OSError, GlanceError) as error:
            outcome["error"] = error
        reached.set()

    thread = threading.Thread(target=run)
    thread.start()
    assert reached.wait(120), "the upload never got going"
    fault_sent = sent["bytes"]
    fault(host)
    thread.join(900)
    assert not thread.is_alive(), "the upload never ended"
    if after is not None:
        after(host)

    result = outcome.get("result")
    if result is not None:
        client_text = "HTTP %d" % result.status
    else:
        client_text = "error: %s" % type(outcome["error"]).__name__
    status = client.get_image(image["id"])["status"]
    if result is not None and result.status == 204:
        status = client.wait_for_status(image["id"], "active", timeout=120)["status"]
    stored = client.get_image(image["id"])
    on_disk = host.file("%s/%s" % (IMAGE_DIR, image["id"]))
    match = (status == "active" and result is not None and stored["size"] == size
             and stored["checksum"] == result.md5 and stored["os_hash_value"] == result.sha512
             and host.check_output("sha512sum %s/%s" % (IMAGE_DIR, image["id"])).split()[0] == result.sha512)
    partial = on_disk.exists and status != "active"
    staging = host.run("ls -A /var/lib/glance/staging").stdout.strip()
    FAULTS.append(dict(fault=name, upload="%d MiB at %d MiB/s, fault after %d MiB" % (
        size // MIB, rate // MIB, fault_sent // MIB), client=client_text, status=status,
        match="yes" if match else "no", partial=(
            "yes: %d MiB in the store" % (on_disk.size // MIB) if partial else "no") + (
            ", staging: %s" % staging if staging else "")))
    return image["id"], result, status, match, partial


def _assert_lossless(image_id, result, status, match, partial):
    assert result is not None and result.status == 204, "the upload failed"
    assert status == "active" and match and not partial
    GlanceClient(APACHE).delete_image(image_id)


def test_uwsgi_reload_lets_the_upload_finish(host):
    _assert_lossless(*_upload_with_fault(host, "uWSGI reload (systemctl reload: chain reload)",
                                         lambda h: h.check_output("systemctl reload %s" % UNIT)))
    assert host.service("glance-uwsgi").is_running


def test_uwsgi_restart_lets_the_upload_finish(host):
    before = host.check_output("systemctl show --property=MainPID --value %s" % UNIT)
    _assert_lossless(*_upload_with_fault(host, "uWSGI restart (systemctl restart)",
                                         lambda h: h.check_output("systemctl restart %s" % UNIT)))
    assert host.check_output("systemctl show --property=MainPID --value %s" % UNIT) != before


def test_uwsgi_stop_lets_the_upload_finish(host):
    states = []

    def stop(h):
        h.check_output("systemctl stop %s" % UNIT)
        states.append(h.run("systemctl is-active %s" % UNIT).stdout.strip())

    try:
        _assert_lossless(*_upload_with_fault(host, "uWSGI stop (systemctl stop), then start", stop,
                                             after=lambda h: h.check_output("systemctl start %s" % UNIT)))
        # The stop returned only once the upload was done, and did stop uWSGI.
        assert states == ["inactive"]
    finally:
        host.run("systemctl start %s" % UNIT)


def test_apache_graceful_reload_lets_the_upload_finish(host):
    _assert_lossless(*_upload_with_fault(host, "Apache graceful reload (systemctl reload apache2)",
                                         lambda h: h.check_output("systemctl reload apache2")))


def test_apache_change_applied_by_the_role_lets_the_upload_finish(host):
    runs = []

    def apply_change(_host):
        runs.append(_ansible_playbook({"glance_wsgi_apache_extra_directives": [
            'Header always set X-Hwg-Fault-Test "applied"']}))

    _assert_lossless(*_upload_with_fault(host, "Apache change applied by the role (graceful reload)", apply_change,
                                         size=FAULT_SIZE, rate=SLOW_RATE, fault_at=0.1))
    assert runs[0].returncode == 0, runs[0].stdout[-3000:]
    assert "X-Hwg-Fault-Test" in host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    headers = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-D", "-", APACHE + "/"], capture_output=True,
                             text=True, check=True).stdout
    assert "X-Hwg-Fault-Test: applied" in headers


def test_sigkill_of_a_worker_fails_the_upload_without_an_active_image(host):
    image_id, result, status, _match, partial = _upload_with_fault(
        host, "one uWSGI worker killed (SIGKILL)",
        lambda h: h.check_output("kill -KILL %d" % _busiest_worker(h)))
    assert result is None or result.status != 204, "the upload reported success"
    assert status != "active"
    LEFT_BEHIND.update(image_id=image_id, status=status, partial=partial, killed_at=time.time())
    # The master replaces the worker: the service keeps serving.
    upload_and_check(host, APACHE, "after-sigkill", 16 * MIB)


def _cleanup(extra):
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         "-e", json.dumps(dict(glance_cleanup_hosts="all", glance_cleanup_older_than=CLEANUP_AGE, **extra)),
         "httpd_wsgi.glance.cleanup_stale_uploads"],
        capture_output=True, text=True, timeout=600, check=False,
        env=dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1"))


def _cleanup_result(run):
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return list(json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"].values())[0]


def test_cleanup_playbook_removes_what_the_sigkill_left(host):
    image_id = LEFT_BEHIND["image_id"]
    # stale_uploads takes nothing younger than a minute: let the SIGKILL's
    # image and partial file reach that age.
    time.sleep(max(0.0, CLEANUP_AGE + 2 - (time.time() - LEFT_BEHIND["killed_at"])))
    partial_file = "%s/%s" % (IMAGE_DIR, image_id)
    # Images that a plain GET /v2/images leaves out (community) or that
    # belong to another project: their data is old, and must stay.
    client = GlanceClient(APACHE)
    others = []
    for extra in ({"visibility": "community"}, {"visibility": "private", "owner": "other-project"},
                  {"visibility": "shared", "owner": "other-project"}):
        other = client.create_image("cleanup-keeps-%s" % extra["visibility"], extra=extra)["id"]
        assert client.upload(other, random_blocks(MIB), transfer="chunked").status == 204
        others.append(other)
    host.check_output("touch -d '2 hours ago' %s" % " ".join("%s/%s" % (IMAGE_DIR, other) for other in others))
    dry = _cleanup_result(_cleanup({}))
    assert image_id in [entry["id"] for entry in dry["stale_images"]]
    assert GlanceClient(APACHE).get_image(image_id)["status"] == LEFT_BEHIND["status"]
    assert host.file(partial_file).exists == LEFT_BEHIND["partial"]

    done = _cleanup_result(_cleanup({"glance_cleanup_dry_run": False}))
    assert [entry for entry in done["stale_images"] if entry["id"] == image_id][0]["deleted"]
    try:
        GlanceClient(APACHE).get_image(image_id)
        raise AssertionError("the stale image is still there")
    except GlanceError as error:
        assert error.status == 404
    assert not host.file(partial_file).exists
    for other in others:
        assert host.file("%s/%s" % (IMAGE_DIR, other)).size == MIB, other
        assert client.get_image(other)["status"] == "active"
        assert client.download(other)[0] == MIB
        client.delete_image(other)
    if LEFT_BEHIND["partial"]:
        assert partial_file in [entry["path"] for entry in done["orphan_files"] if entry["removed"]]
    FAULTS.append(dict(fault="cleanup_stale_uploads on the SIGKILL's image", upload="-",
                       client="dry run listed it; then deleted; community, other project's private and shared"
                       " images' old files kept", status="deleted (404)", match="-",
                       partial="removed (%d orphaned file(s), %d bytes)" % (
                           len(done["orphan_files"]), sum(e["bytes"] for e in done["orphan_files"]))))


def test_client_pauses_within_the_limit_succeed_and_longer_ones_fail_cleanly(host):
    """docs/reliability.md's timeout table: a client that goes silent mid-upload
    for less than uWSGI's socket timeout (60 s) finishes; one silent for
    longer loses the upload, and no image is left in saving (after the
    cleanup playbook, where Glance leaves one there)."""
    short = upload_and_check(host, APACHE, "pause-30-s-mid-upload", 32 * MIB, pause=(8 * MIB, 30), download=False)
    assert short.seconds >= 30
    client = GlanceClient(APACHE, timeout=600)
    image_id = client.create_image("hwg-pause-75-s")["id"]
    started = time.time()
    try:
        result = client.upload(image_id, random_blocks(32 * MIB), pause=(8 * MIB, 75))
        title = re.search(r"<title>([^<]*)</title>", result.body)
        outcome = "HTTP %d (%s)" % (result.status, title.group(1) if title else result.body.strip()[:80])
        assert result.status != 204, "a 75 s pause mid-upload was accepted"
    except (OSError, GlanceError) as error:
        outcome = "connection error: %r" % error
    seconds = time.time() - started
    status = client.get_image(image_id)["status"]
    assert status != "active"
    after = status
    if status == "saving":
        time.sleep(max(0.0, CLEANUP_AGE + 2 - (time.time() - started)))
        _cleanup_result(_cleanup({"glance_cleanup_dry_run": False}))
        try:
            after = client.get_image(image_id)["status"]
        except GlanceError as error:
            assert error.status == 404
            after = "deleted by the cleanup"
    assert after != "saving"
    assert not host.file("%s/%s" % (IMAGE_DIR, image_id)).exists or after == "queued"
    FAULTS.append(dict(fault="client silent 30 s, then 75 s, mid-upload (uWSGI socket timeout 60 s)",
                       upload="32 MiB chunked each", client="30 s: HTTP 204 in %.0f s; 75 s: %s after %.0f s"
                       % (short.seconds, outcome, seconds), status="30 s: active; 75 s: %s, then %s" % (status, after),
                       match="30 s: yes", partial="none after cleanup"))
    if after == "queued":
        client.delete_image(image_id)


def test_uwsgi_option_that_fails_at_start_puts_the_previous_service_back(host):
    """With a glance-api.conf change in the same run: uwsgi_service's
    rollback starts the previous uWSGI, which reads the new glance-api.conf;
    glance_wsgi then puts the previous one back and restarts it once more."""
    ini_before, conf_before = host.file(INI).md5sum, host.file(CONF).md5sum
    pid_before = host.check_output("systemctl show -p MainPID --value %s" % UNIT)
    # Parses in strict mode, but Apache holds the port: uWSGI cannot start.
    run = _ansible_playbook({"glance_wsgi_uwsgi_options": {"http-socket": "127.0.0.1:29392"},
                             "glance_wsgi_config_overrides": {"DEFAULT": {"image_size_cap": 1099511627775}}})
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Address already in use" in output, output[-3000:]
    assert "were put back and the service runs them again" in output, output[-3000:]
    assert "are back in place" in output and "The previous %s" % CONF in output, output[-3000:]
    assert "restarted on them" in output and "did not restart" not in output, output[-3000:]
    assert host.file(INI).md5sum == ini_before
    assert host.file(CONF).md5sum == conf_before
    assert host.service("glance-uwsgi").is_running
    assert host.check_output("systemctl show -p MainPID --value %s" % UNIT) != pid_before
    assert not host.run("ls /etc/uwsgi/*~ /etc/systemd/system/glance-uwsgi.service.*~ /etc/glance/*~ "
                        "2>/dev/null").stdout.strip()
    upload_and_check(host, APACHE, "after-failed-uwsgi-change", 16 * MIB)


def test_a_rejected_uwsgi_option_leaves_the_stats_socket_and_reloads_working(host):
    """The strict-parser check of a candidate ini must not run uWSGI's vacuum
    over the running service's sockets."""
    stats = "/run/glance-uwsgi/stats.sock"
    assert host.socket("unix://%s" % stats).is_listening
    run = _ansible_playbook({"glance_wsgi_uwsgi_options": {"no-such-uwsgi-option": 1}})
    assert run.returncode != 0
    assert "no-such-uwsgi-option" in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
    assert host.file(stats).exists and host.socket("unix://%s" % stats).is_listening
    host.check_output("systemctl reload %s" % UNIT)
    upload_and_check(host, APACHE, "after-rejected-uwsgi-option", 16 * MIB)


def _apache_untouched(host, site_md5):
    assert host.file(SITE).md5sum == site_md5
    assert host.service("apache2").is_running
    assert host.socket("tcp://127.0.0.1:29392").is_listening


def test_bad_input_on_the_host_is_refused_before_any_change(host):
    """Every case of tests/integration/bad_input_host.py (docs/bad-input.md):
    the play fails with the message, no file of the deployment changes, and
    Glance keeps answering."""
    host.check_output("command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl")
    host.check_output(
        "mkdir -p {d} && cd {d}"
        " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=a -keyout a.key -out a.pem 2>/dev/null"
        " && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=b -keyout b.key -out b.pem 2>/dev/null"
        " && openssl pkey -in a.key -aes256 -passout pass:secret -out locked.key".format(d=BAD_TLS_DIR))
    files = [SITE, INI, CONF, "/etc/systemd/system/%s" % UNIT, "/etc/apache2/ports.conf",
             "/etc/apache2/conf-available/apache-proxy-listen.conf"]
    before = {path: host.file(path).md5sum for path in files}
    for extra_vars, message in HOST_CASES:
        run = _ansible_playbook(extra_vars)
        output = run.stdout + run.stderr
        assert run.returncode != 0, extra_vars
        assert message in output, (extra_vars, output[-3000:])
        assert {path: host.file(path).md5sum for path in files} == before, extra_vars
        _apache_untouched(host, before[SITE])
        assert host.service("glance-uwsgi").is_running
        GlanceClient(APACHE).versions()
    FAULTS.append(dict(fault="bad input only the host can judge (%d cases: glance-api.conf options and values, "
                       "uWSGI option, TLS key of another certificate, key with a passphrase)" % len(HOST_CASES),
                       upload="-", client="each play failed with its message", status="-", match="-",
                       partial="no file changed, Glance answering"))


def test_a_listen_port_another_program_holds_puts_the_previous_apache_back(host):
    site_md5 = host.file(SITE).md5sum
    host.check_output("systemd-run --unit hwg-port-holder python3 -m http.server --bind 127.0.0.1 29394")
    try:
        host.run("for i in $(seq 50); do ss -Hltn 'sport = :29394' | grep -q . && break; sleep 0.1; done")
        run = _ansible_playbook({"glance_wsgi_listen_port": 29394})
        output = run.stdout + run.stderr
        assert run.returncode != 0
        assert "Address already in use" in output, output[-3000:]
        assert "The previous configuration was put back and Apache runs it again" in output, output[-3000:]
        _apache_untouched(host, site_md5)
        upload_and_check(host, APACHE, "after-port-taken", 16 * MIB)
    finally:
        host.run("systemctl stop hwg-port-holder")
    FAULTS.append(dict(fault="listen port held by another program", upload="16 MiB after",
                       client="play failed with Apache's bind error", status="active", match="yes",
                       partial="previous site put back, Apache running on 29392"))


def test_diff_never_shows_a_password_of_glance_api_conf(host):
    """A database password with a "/" and a secret in the overrides: a run
    with --diff (in check mode, so nothing changes) shows neither."""
    conf_md5 = host.file("/etc/glance/glance-api.conf").md5sum
    run = _ansible_playbook({
        "glance_wsgi_database_connection": "mysql+pymysql://glance:pass/word-2931@localhost/glance",
        "glance_wsgi_config_overrides": {"keystone_authtoken": {"memcache_secret_key": "override-secret-2931"}}},
        options=["--check", "--diff"])
    output = run.stdout + run.stderr
    assert "Write glance-api.conf" in output, output[-3000:]
    assert "pass/word-2931" not in output and "override-secret-2931" not in output
    assert host.file("/etc/glance/glance-api.conf").md5sum == conf_md5


def test_4_gib_chunked_upload(host):
    upload_and_check(host, APACHE, "4-GiB-chunked", 4096 * MIB, download=False)


def test_8_concurrent_256_mib_chunked_uploads(host):
    errors = []

    def one(number):
        try:
            upload_and_check(host, APACHE, "concurrent-%d" % number, 256 * MIB, download=False)
        except Exception as error:  # pylint: disable=broad-except
            errors.append("%d: %r" % (number, error))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(900)
    assert not errors, errors


def test_1_mb_per_s_trickle_for_over_a_minute_is_not_cut_off(host):
    result = upload_and_check(host, APACHE, "trickle-1-MB-per-s", 72 * 1000 * 1000, rate_limit=1000 * 1000,
                              download=False)
    assert result.seconds > 60


def test_unit_exposure_score(host):
    output = host.check_output("systemd-analyze security --no-pager %s" % UNIT)
    score = float(re.search(r"Overall exposure level for %s: ([0-9.]+)" % re.escape(UNIT), output).group(1))
    FAULTS.append(dict(fault="systemd-analyze security %s" % UNIT, upload="-", client="-",
                       status="exposure %.1f" % score, match="-", partial="-"))
    # 1.7 when the hardening set was last changed; it must not get worse.
    assert score <= 1.7, output


def test_tls_termination_with_a_self_signed_certificate(host, tmp_path):
    host.check_output("command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl")
    host.check_output(
        "mkdir -p /etc/glance/tls && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1"
        " -addext subjectAltName=IP:127.0.0.1 -keyout /etc/glance/tls/key.pem -out /etc/glance/tls/cert.pem"
        " 2>/dev/null && chmod 0600 /etc/glance/tls/key.pem")
    run = _ansible_playbook({"glance_wsgi_tls_certificate": "/etc/glance/tls/cert.pem",
                             "glance_wsgi_tls_key": "/etc/glance/tls/key.pem"})
    assert run.returncode == 0, run.stdout[-3000:]
    site = host.file("/etc/apache2/sites-available/glance-api.conf").content_string
    assert "SSLProtocol -all +TLSv1.2 +TLSv1.3" in site and 'X-Forwarded-Proto "https"' in site
    ca = tmp_path / "cert.pem"
    ca.write_text(host.file("/etc/glance/tls/cert.pem").content_string)
    https = APACHE.replace("http://", "https://")
    result = upload_and_check(host, https, "tls-chunked", 64 * MIB, client_options={"ca_path": str(ca)})
    assert result.status == 204
    # Only TLS 1.2 and 1.3 are offered.
    context = ssl.create_default_context(cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with socket.create_connection(("127.0.0.1", 29392), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                raise AssertionError("a TLS 1.1 handshake succeeded")
    except ssl.SSLError:
        pass
    # Plain HTTP on the TLS port is refused.
    plain = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", APACHE + "/"],
                           capture_output=True, text=True, check=False).stdout
    assert plain == "400"
    FAULTS.append(dict(fault="TLS termination (self-signed, TLS 1.2/1.3)", upload="64 MiB chunked over https",
                       client="HTTP %d, %.1f MiB/s" % (result.status, result.mib_per_second), status="active",
                       match="yes", partial="no; TLS 1.1 handshake refused, plain HTTP answered 400"))
