#!/usr/bin/env python3
"""Upload benchmark of the collection's modes, run by scripts/bench.sh.

Deploys Glance into the molecule "bench" container with the collection's
site playbook, then, round by round, switches the deployment between the
modes (http, http with buffering, uwsgi, mod_wsgi) and uploads the same
random file through each, plus straight to uWSGI's http-socket as the
baseline. Every upload's size, md5 and sha512 as Glance stored them must
equal the source's, or the benchmark fails.

While each upload runs, a sampler on the host reads /proc for the
container's processes: CPU time and resident memory of Apache (its own
processes) and of the application server (uWSGI, or mod_wsgi's daemon
processes), and the bytes in Apache's private temporary directory.

Output: a table on the terminal, build/bench/results.json, and with --docs
the tables and chart of docs/benchmarks.md.
"""

import argparse
import glob
import hashlib
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins", "module_utils"))
from glance_api import GlanceClient, GlanceError  # noqa: E402  pylint: disable=wrong-import-position
from keystone_auth import KeystoneError, password_token  # noqa: E402  pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(ROOT, "molecule", "bench", "molecule.yml")
OUT_DIR = os.path.join(ROOT, "build", "bench")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
CHART = os.path.join(ROOT, "docs", "images", "benchmark.png")
MB = 1000 * 1000
MIB = 1024 * 1024
GIB = 1024 * MIB
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Deployments the rounds switch between (variables for the site playbook).
# "import" is mode http with Keystone and interoperable import (the
# scenario's hwg_bench_import): a legacy upload, a glance-direct import and
# a copy-image, with an admin token.
CONFIGS = ("http", "http_unix", "http_buffered", "uwsgi", "mod_wsgi", "import")
# Where uWSGI's http-socket listens in the http_unix deployment (it keeps its
# TCP socket too, for the direct baseline).
UNIX_SOCKET = "/run/glance-uwsgi/http.sock"

# (name, deployment, target, transfer): target "direct" is uWSGI's
# http-socket, "apache" the site Apache serves.
VARIANTS = (
    ("direct chunked", "http", "direct", "chunked"),
    ("direct chunked 8 KiB", "http", "direct", "chunked"),
    ("direct content-length", "http", "direct", "content-length"),
    ("http chunked", "http", "apache", "chunked"),
    ("http content-length", "http", "apache", "content-length"),
    ("http unix chunked", "http_unix", "apache", "chunked"),
    ("http unix content-length", "http_unix", "apache", "content-length"),
    ("http buffered chunked", "http_buffered", "apache", "chunked"),
    ("uwsgi chunked", "uwsgi", "apache", "chunked"),
    ("uwsgi content-length", "uwsgi", "apache", "content-length"),
    ("mod_wsgi chunked", "mod_wsgi", "apache", "chunked"),
    ("mod_wsgi content-length", "mod_wsgi", "apache", "content-length"),
)
BASELINE = {"chunked": "direct chunked", "content-length": "direct content-length"}
GLANCECLIENT_CHUNK = 64 * 1024
# The client's chunk size (bytes) where it is not python-glanceclient's:
# "direct chunked 8 KiB" sends what mod_proxy_http sends uWSGI (8 KiB chunks),
# without Apache, to separate the cost of the chunk size from the hop's.
CHUNK_SIZE = {"direct chunked 8 KiB": 8 * 1024}


# Headers of every request to Glance: the token while the import
# deployment runs, none otherwise.
AUTH = {}


class BenchError(Exception):
    pass


def log(msg):
    print("==> " + msg, file=sys.stderr, flush=True)


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kwargs).stdout


def in_container(container, script):
    return run(["docker", "exec", container, "sh", "-c", script])


# --- Deployment ------------------------------------------------------------

def scenario_settings():
    """Container name and group variables of the bench scenario."""
    import yaml  # the toolchain's virtualenv has PyYAML (ansible-core needs it)
    with open(SCENARIO, encoding="utf-8") as handle:
        scenario = yaml.safe_load(handle)
    name = scenario["platforms"][0]["name"]
    group_vars = scenario["provisioner"]["inventory"]["group_vars"]["all"]
    return name, group_vars


def config_vars(config, size, group_vars, extra_vars):
    """Role variables of one deployment, over the run's --extra-vars."""
    merged = dict(extra_vars)
    if config == "http_unix":
        # mode http with Apache -> uWSGI over a unix socket (the tuning
        # option of docs/benchmarks.md); TCP stays for the direct uploads.
        options = dict(extra_vars.get("glance_wsgi_uwsgi_options", {}))
        options["http-socket"] = [UNIX_SOCKET, "127.0.0.1:%d" % group_vars["glance_wsgi_uwsgi_port"]]
        merged.update(glance_wsgi_mode="http", glance_wsgi_uwsgi_socket=UNIX_SOCKET,
                      glance_wsgi_uwsgi_options=options)
        return merged
    if config == "import":
        merged.update(group_vars["hwg_bench_import"])
        return merged
    merged.update(_config_vars(config, size))
    return merged


def _config_vars(config, size):
    if config == "http_buffered":
        # The role refuses buffering unless Apache's temporary directory
        # has room for the largest image; declare the upload size.
        return {"glance_wsgi_mode": "http", "glance_wsgi_request_buffering": True,
                "glance_wsgi_max_image_size": size}
    return {"glance_wsgi_mode": config}


def converge(container, group_vars, extra, workdir):
    """Runs the site playbook; returns (seconds, changed count)."""
    inventory = os.path.join(workdir, "inventory.json")
    with open(inventory, "w", encoding="utf-8") as handle:
        json.dump({"glance_api": {"hosts": {container: {
            "ansible_connection": "community.docker.docker",
            "ansible_python_interpreter": "/usr/bin/python3",
            # One `docker exec` per task; what an operator sets in ansible.cfg.
            "ansible_pipelining": True}}, "vars": group_vars}}, handle)
    extra_file = os.path.join(workdir, "extra.json")
    with open(extra_file, "w", encoding="utf-8") as handle:
        json.dump(extra, handle)
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", inventory, "httpd_wsgi.glance.site", "-e", "@" + extra_file],
                          text=True, capture_output=True, check=False)
    seconds = time.monotonic() - started
    recap = re.search(r"changed=(\d+).*failed=(\d+)", proc.stdout.split("PLAY RECAP")[-1])
    if proc.returncode != 0 or not recap:
        raise BenchError("converge failed (%s):\n%s\n%s" % (json.dumps(extra), proc.stdout[-4000:], proc.stderr[-2000:]))
    return seconds, int(recap.group(1))


# --- Source data -------------------------------------------------------------

def source_file(size, workdir):
    """A file of random bytes and its md5/sha512 (cached between runs)."""
    path = os.path.join(workdir, "source-%d.bin" % size)
    meta = path + ".json"
    if os.path.exists(meta) and os.path.exists(path) and os.path.getsize(path) == size:
        with open(meta, encoding="utf-8") as handle:
            hashes = json.load(handle)
        if hashes.get("mtime") == os.path.getmtime(path):
            return path, hashes
    log("Writing %d MiB of random data to %s" % (size // MIB, path))
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with open(path, "wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MIB))
            md5.update(block)
            sha512.update(block)
            handle.write(block)
            left -= len(block)
    hashes = {"md5": md5.hexdigest(), "sha512": sha512.hexdigest(), "mtime": os.path.getmtime(path)}
    with open(meta, "w", encoding="utf-8") as handle:
        json.dump(hashes, handle)
    return path, hashes


def repeated_hashes(path, repeat):
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    for _count in range(repeat):
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(4 * MIB), b""):
                md5.update(block)
                sha512.update(block)
    return {"md5": md5.hexdigest(), "sha512": sha512.hexdigest()}


# --- Glance client -----------------------------------------------------------

def client(port, timeout=120):
    """The collection's Glance client (plugins/module_utils/glance_api.py),
    with the run's token if the deployment has Keystone."""
    return GlanceClient("http://127.0.0.1:%d" % port, headers=AUTH, timeout=timeout)


def api(port, method, path, body=None, expect=(200,)):
    try:
        data = client(port).request(method, path, body=body, expect=expect)[1]
    except GlanceError as error:
        raise BenchError(str(error)) from None
    return data or None


def upload(port, image_id, path, transfer, repeat=1, chunk_size=GLANCECLIENT_CHUNK, target="file"):
    """Streams the file (repeat times) like python-glanceclient does: 64 KiB
    chunks, or a Content-Length body (sent with sendfile), to the image's
    data (target "file") or its import staging area ("stage"), without
    hashing on the client. Returns seconds from the first body byte to the
    end of Glance's answer."""
    result = client(port, timeout=3600).upload_file(image_id, path, transfer=transfer.replace("-", "_"),
                                                    repeat=repeat, chunk_size=chunk_size, target=target)
    if result.status != 204:
        raise BenchError("upload to port %d: HTTP %d %s" % (port, result.status, result.body[:300]))
    return result.seconds


def check_stored(api_port, image_id, size, hashes):
    stored = api(api_port, "GET", "/v2/images/" + image_id)
    problems = []
    if stored["status"] != "active":
        problems.append("status %s" % stored["status"])
    if stored["size"] != size:
        problems.append("size %s, sent %d" % (stored["size"], size))
    if stored["checksum"] != hashes["md5"]:
        problems.append("md5 %s, sent %s" % (stored["checksum"], hashes["md5"]))
    if stored.get("os_hash_value") != hashes["sha512"]:
        problems.append("sha512 differs")
    if problems:
        raise BenchError("image %s stored wrongly: %s" % (image_id, "; ".join(problems)))


def verified_upload(port, api_port, path, size, hashes, transfer, repeat=1, name="bench",
                    chunk_size=GLANCECLIENT_CHUNK):
    image = api(api_port, "POST", "/v2/images", {"name": name, "disk_format": "raw", "container_format": "bare"},
                expect=(201,))
    try:
        seconds = upload(port, image["id"], path, transfer, repeat, chunk_size=chunk_size)
        check_stored(api_port, image["id"], size * repeat, hashes)
    finally:
        api(api_port, "DELETE", "/v2/images/" + image["id"], expect=(204, 404))
    return seconds


# --- Interoperable import (deployment "import") ------------------------------

def keystone_token(group_vars):
    """An admin token (copy-image is admin-only by Glance's default policy),
    from the modules' own Keystone code."""
    try:
        return password_token(group_vars["hwg_bench_import"]["glance_wsgi_keystone_admin_auth"])
    except KeystoneError as error:
        raise BenchError(str(error)) from None


def wait_image(api_port, image_id, done, what, timeout=1800.0):
    """Polls the image every 0.1 s until done(image); returns it."""
    deadline = time.monotonic() + timeout
    while True:
        image = api(api_port, "GET", "/v2/images/" + image_id)
        if done(image):
            return image
        if image["status"] in ("killed", "deleted") or image.get("os_glance_failed_import"):
            raise BenchError("image %s: %s failed (status %s, failed stores %r)" % (
                image_id, what, image["status"], image.get("os_glance_failed_import")))
        if time.monotonic() > deadline:
            raise BenchError("image %s: %s not done after %.0f s (status %s)" % (image_id, what, timeout,
                                                                               image["status"]))
        time.sleep(0.1)


def import_uploads(container, port, stores, path, size, hashes, rnd):
    """One round of the import deployment: a legacy chunked upload and a
    glance-direct import of the same file (their order alternating by
    round), then a copy-image of the imported image to the second store.
    Each ends verified: size, md5 and sha512 in Glance, and the copy's file
    size in its store."""
    figures = {}

    def legacy():
        figures["legacy_s"] = verified_upload(port, port, path, size, hashes, "chunked", name="import legacy")

    def direct_and_copy():
        image = api(port, "POST", "/v2/images", {"name": "import direct", "disk_format": "raw",
                                                 "container_format": "bare"}, expect=(201,))
        try:
            figures["stage_s"] = upload(port, image["id"], path, "chunked", target="stage")
            started = time.monotonic()
            api(port, "POST", "/v2/images/%s/import" % image["id"], {"method": {"name": "glance-direct"}},
                expect=(202,))
            # Done: active, and the import task has let go of the image (the
            # lock goes a moment after the status; a copy-image before that
            # is refused with 409).
            wait_image(port, image["id"], lambda i: i["status"] == "active" and not i.get("os_glance_import_task"),
                       "glance-direct")
            figures["import_s"] = time.monotonic() - started
            check_stored(port, image["id"], size, hashes)
            started = time.monotonic()
            api(port, "POST", "/v2/images/%s/import" % image["id"],
                {"method": {"name": "copy-image"}, "stores": [stores[1]["name"]]}, expect=(202,))
            wait_image(port, image["id"], lambda i: stores[1]["name"] in i.get("stores", "").split(",")
                       and not i.get("os_glance_importing_to_stores"), "copy-image")
            figures["copy_s"] = time.monotonic() - started
            copied = in_container(container, "stat -c %%s %s/%s" % (stores[1]["path"], image["id"])).strip()
            if copied != str(size):
                raise BenchError("copy-image left %s bytes in store %s, sent %d" % (copied, stores[1]["name"], size))
        finally:
            api(port, "DELETE", "/v2/images/" + image["id"], expect=(204, 404))

    for step in ((legacy, direct_and_copy) if rnd % 2 == 0 else (direct_and_copy, legacy)):
        settle_container(container)
        step()
    figures["direct_s"] = figures["stage_s"] + figures["import_s"]
    return figures


def settle_container(container):
    settle(run(["docker", "inspect", "-f", "{{.Id}}", container]).strip())


# --- Sampler -----------------------------------------------------------------

def container_pids(container_id):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % entry, encoding="utf-8") as handle:
                if container_id in handle.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def classify(pid):
    """'apache', 'app' (uWSGI, or a mod_wsgi daemon process) or None."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            cmd = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    if "(wsgi:" in cmd:
        return "app"
    if "uwsgi" in cmd.lower():
        # Keystone's uWSGI (the import deployment's) is not Glance's.
        return "app" if "uwsgi-service-ctl" not in cmd and "keystone" not in cmd else None
    if cmd.startswith(("/usr/sbin/apache2", "/usr/sbin/httpd")):
        return "apache"
    return None


def read_proc(pid):
    """(cpu ticks, rss bytes) of a process, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/%d/statm" % pid, encoding="utf-8") as handle:
            rss = int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12]), rss


def dir_bytes(pattern):
    total = 0
    for top in glob.glob(pattern):
        for base, _dirs, files in os.walk(top):
            for name in files:
                try:
                    total += os.lstat(os.path.join(base, name)).st_blocks * 512
                except OSError:
                    pass
    return total


class Sampler:
    """CPU seconds, peak RSS growth (sum over each group's processes) and
    peak bytes in Apache's temporary directory while a block runs."""

    def __init__(self, container_id, tmp_pattern, interval=0.1):
        self.container_id = container_id
        self.tmp_pattern = tmp_pattern
        self.interval = interval
        self._stop = threading.Event()
        self._groups = {}
        self._first = {}
        self._last = {}
        self._rss_start = {"apache": 0, "app": 0}
        self._rss_peak = {"apache": 0, "app": 0}
        self._tmp_start = 0
        self._tmp_peak = 0

    def _sample(self, first=False):
        rss = {"apache": 0, "app": 0}
        for pid in container_pids(self.container_id):
            group = self._groups.get(pid)
            if group is None:
                group = classify(pid)
                if group is None:
                    continue
                self._groups[pid] = group
            state = read_proc(pid)
            if state is None:
                continue
            ticks, resident = state
            self._first.setdefault(pid, ticks if first else 0)
            self._last[pid] = ticks
            rss[group] += resident
        tmp = dir_bytes(self.tmp_pattern)
        if first:
            self._rss_start = dict(rss)
            self._rss_peak = dict(rss)
            self._tmp_start = self._tmp_peak = tmp
        else:
            for group, value in rss.items():
                self._rss_peak[group] = max(self._rss_peak[group], value)
            self._tmp_peak = max(self._tmp_peak, tmp)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample(first=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        cpu = {"apache": 0, "app": 0}
        for pid, ticks in self._last.items():
            cpu[self._groups[pid]] += ticks - self._first.get(pid, 0)
        self.result = {
            "cpu_s": {group: value / CLK_TCK for group, value in cpu.items()},
            "rss_growth": {group: max(0, self._rss_peak[group] - self._rss_start[group]) for group in cpu},
            "tmp_peak": max(0, self._tmp_peak - self._tmp_start),
        }


# --- Measurements ------------------------------------------------------------

def physical_limits(container, size):
    mib = size // MIB
    script = r"""
set -e
f=/var/lib/glance/images/.bench-dd
s=$(date +%s.%N); dd if=/dev/zero of=$f bs=1M count={mib} status=none; e=$(date +%s.%N); echo "write $s $e"
rm -f $f; sync
s=$(date +%s.%N); dd if=/dev/zero of=$f bs=1M count={mib} conv=fdatasync status=none; e=$(date +%s.%N); echo "sync $s $e"
rm -f $f
""".format(mib=mib)
    limits = {}
    for line in in_container(container, script).splitlines():
        kind, start, end = line.split()
        limits["disk_write_" + ("page_cache" if kind == "write" else "fdatasync")] = size / MB / (float(end) - float(start))
    hashing = in_container(container, "python3 -c %s" % shlex.quote(
        "import hashlib, os, time\n"
        "buf = memoryview(os.urandom(64 << 20)); total = %d\n"
        "for algos in (('md5',), ('sha512',), ('md5', 'sha512')):\n"
        "    hs = [hashlib.new(a) for a in algos]; start = time.monotonic(); done = 0\n"
        "    while done < total:\n"
        "        for off in range(0, len(buf), 65536):\n"
        "            for h in hs: h.update(buf[off:off + 65536])\n"
        "        done += len(buf)\n"
        "    print('+'.join(algos), done / 1e6 / (time.monotonic() - start))\n" % size))
    for line in hashing.splitlines():
        name, rate = line.split()
        limits["hash_" + name] = float(rate)
    return limits


def versions(container):
    script = ("apache2 -v 2>/dev/null | sed -n 's/^Server version: //p'; "
              "(uwsgi --version 2>/dev/null || uwsgi-core --version 2>/dev/null || echo '?'); "
              "python3 -c 'import importlib.metadata as m; print(m.version(\"glance\"))' 2>/dev/null || echo '?'; "
              ". /etc/os-release; echo \"$PRETTY_NAME\"")
    apache, uwsgi, glance, os_name = (in_container(container, script).splitlines() + ["?"] * 4)[:4]
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"apache": apache, "uwsgi": uwsgi, "glance": glance, "container_os": os_name,
            "kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count()}


def measure(args):
    container, group_vars = scenario_settings()
    apache_port = group_vars["glance_wsgi_listen_port"]
    uwsgi_port = group_vars["glance_wsgi_uwsgi_port"]
    workers = group_vars.get("glance_wsgi_processes", 4)
    os.makedirs(OUT_DIR, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="bench-", dir=OUT_DIR)
    extra_vars = json.loads(args.extra_vars) if args.extra_vars else {}
    size = args.size_mib * MIB
    path, hashes = source_file(size, OUT_DIR)
    sweep_path, sweep_hashes = source_file(args.sweep_size_mib * MIB, OUT_DIR)
    container_id = run(["docker", "inspect", "-f", "{{.Id}}", container]).strip()
    merged = run(["docker", "inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", container]).strip()
    tmp_pattern = merged + "/tmp/systemd-private-*-apache2.service-*/tmp"
    results = {"parameters": {"size_mib": args.size_mib, "rounds": args.rounds, "sweep_size_mib": args.sweep_size_mib,
                              "concurrency": args.concurrency, "memory_size_mib": args.memory_size_mib,
                              "extra_vars": extra_vars, "group_vars": group_vars},
               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    variants = [v for v in VARIANTS if v[1] in args.configs]

    log("Fresh converge (mode http)")
    fresh = converge(container, group_vars, config_vars("http", size, group_vars, extra_vars), workdir)
    again = converge(container, group_vars, config_vars("http", size, group_vars, extra_vars), workdir)
    results["converge"] = {"fresh_s": fresh[0], "fresh_changed": fresh[1],
                           "second_s": again[0], "second_changed": again[1]}
    log("Converge: fresh %.1f s (changed=%d), second %.1f s (changed=%d)" % (fresh[0], fresh[1], again[0], again[1]))
    results["versions"] = versions(container)
    log("Physical limits in the container")
    results["limits"] = physical_limits(container, size)

    samples = {name: [] for name, *_rest in variants}
    sweep = {n: [] for n in args.concurrency}
    configs = [c for c in CONFIGS if c in args.configs]
    imports = []
    current = "http"
    for rnd in range(args.rounds):
        order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
        for config in order:
            if config != current:
                log("Round %d: switching to %s" % (rnd + 1, config))
                AUTH.clear()
                converge(container, group_vars, config_vars(config, size, group_vars, extra_vars), workdir)
                current = config
                if config == "import":
                    AUTH["X-Auth-Token"] = keystone_token(group_vars)
            if config == "import":
                concurrent_uploads(apache_port, sweep_path, args.sweep_size_mib * MIB, sweep_hashes, workers)
                imports.append(import_uploads(container, apache_port, group_vars["glance_wsgi_stores"], path, size,
                                              hashes, rnd))
                log("Round %d: import: legacy %.1f s; glance-direct stage %.1f s + import %.1f s; copy-image %.1f s" % (
                    rnd + 1, imports[-1]["legacy_s"], imports[-1]["stage_s"], imports[-1]["import_s"],
                    imports[-1]["copy_s"]))
                continue
            todo = round_order([v for v in variants if v[1] == config], rnd)
            # Warm-up: a worker's first upload also initialises parts of
            # Glance (store, database engine, policies); one parallel upload
            # per worker process, so whichever worker takes the measured
            # upload has done that already.
            for target in {v[2] for v in todo}:
                port = uwsgi_port if target == "direct" else apache_port
                concurrent_uploads(port, sweep_path, args.sweep_size_mib * MIB, sweep_hashes, workers,
                                   api_port=apache_port)
            for name, _config, target, transfer in todo:
                port = uwsgi_port if target == "direct" else apache_port
                settle(container_id)
                with Sampler(container_id, tmp_pattern) as sampler:
                    seconds = verified_upload(port, apache_port, path, size, hashes, transfer, name=name,
                                              chunk_size=CHUNK_SIZE.get(name, GLANCECLIENT_CHUNK))
                figures = dict(sampler.result, seconds=seconds, mb_s=size / MB / seconds)
                samples[name].append(figures)
                log("Round %d: %-24s %7.1f MB/s  CPU Apache %.2f s, app %.2f s" % (
                    rnd + 1, name, figures["mb_s"], figures["cpu_s"]["apache"], figures["cpu_s"]["app"]))
            if config == "http" and args.concurrency:
                for n in args.concurrency:
                    settle(container_id)
                    sweep[n].append(concurrent_uploads(apache_port, sweep_path, args.sweep_size_mib * MIB,
                                                       sweep_hashes, n))
                    log("Round %d: %d parallel uploads: %.1f MB/s in all" % (rnd + 1, n, sweep[n][-1]["aggregate_mb_s"]))
    if current != "http":
        AUTH.clear()
        converge(container, group_vars, config_vars("http", size, group_vars, extra_vars), workdir)
    results["variants"] = samples
    results["import"] = imports
    results["sweep"] = {str(n): values for n, values in sweep.items()}
    if args.memory_size_mib:
        repeat = max(1, args.memory_size_mib * MIB // size)
        log("Memory: %d MiB chunked through Apache (mode http)" % (size * repeat // MIB))
        settle(container_id)
        with Sampler(container_id, tmp_pattern) as sampler:
            seconds = verified_upload(apache_port, apache_port, path, size, repeated_hashes(path, repeat), "chunked",
                                      repeat=repeat, name="memory")
        results["memory"] = dict(sampler.result, size=size * repeat, seconds=seconds,
                                 mb_s=size * repeat / MB / seconds)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return results


def round_order(todo, rnd):
    """The order of one deployment's uploads in a round: each Apache variant
    right next to the direct baseline of its transfer type, and the whole
    sequence reversed every other round (direct chunked, http chunked,
    direct chunked 8 KiB, http content-length, direct content-length; then
    backwards), so that a drift of the machine's speed during a round
    weighs on both sides of each ratio alike."""
    ordered = []
    for index, transfer in enumerate(("chunked", "content-length")):
        group = [v for v in todo if v[3] == transfer]
        # the baseline first, then the Apache variants, the diagnostic last
        group.sort(key=lambda v: 0 if v[0] == BASELINE[transfer] else 2 if v[0] in CHUNK_SIZE else 1)
        group = group if index == 0 else group[::-1]
        ordered += group
    return ordered[::-1] if rnd % 2 else ordered


def concurrent_uploads(port, path, size, hashes, n, transfer="chunked", api_port=None):
    """n chunked uploads through Apache that start together (after their
    images exist); the total rate is all bytes over the time from the first
    start to the last answer."""
    api_port = api_port or port
    images = [api(api_port, "POST", "/v2/images", {"name": "sweep", "disk_format": "raw", "container_format": "bare"},
                  expect=(201,))["id"] for _count in range(n)]
    barrier = threading.Barrier(n)
    spans = [None] * n

    def one(index):
        try:
            barrier.wait()
            start = time.monotonic()
            upload(port, images[index], path, transfer)
            spans[index] = (start, time.monotonic())
        except Exception as exc:  # pylint: disable=broad-except
            spans[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        errors = [s for s in spans if isinstance(s, Exception)]
        if errors:
            raise BenchError("%d of %d parallel uploads failed: %s" % (len(errors), n, errors[0]))
        for image_id in images:
            check_stored(api_port, image_id, size, hashes)
    finally:
        for image_id in images:
            api(api_port, "DELETE", "/v2/images/" + image_id, expect=(204, 404))
    wall = max(end for _start, end in spans) - min(start for start, _end in spans)
    return {"wall_s": wall, "aggregate_mb_s": n * size / MB / wall,
            "per_upload_mb_s": [size / MB / (end - start) for start, end in spans]}


def settle(container_id, idle_share=0.05, window=1.0, timeout=90.0):
    """Waits until the container's processes use less than idle_share of a
    CPU over a window (a reload's workers loading Glance would otherwise
    count against the next upload); returns the seconds waited."""
    started = time.monotonic()

    def ticks():
        total = 0
        for pid in container_pids(container_id):
            state = read_proc(pid)
            total += state[0] if state else 0
        return total

    while time.monotonic() - started < timeout:
        before = ticks()
        time.sleep(window)
        if (ticks() - before) / CLK_TCK / window < idle_share:
            break
    return time.monotonic() - started


# --- Report ------------------------------------------------------------------

def summarize(results):
    rows = []
    variants = results["variants"]
    for name, samples in variants.items():
        if not samples:
            continue
        rates = [s["mb_s"] for s in samples]
        transfer = "chunked" if "chunked" in name else "content-length"
        base = variants.get(BASELINE[transfer]) or []
        row = {"variant": name, "median": statistics.median(rates), "min": min(rates), "max": max(rates),
               "rounds": len(rates)}
        if base and name != BASELINE[transfer]:
            # Paired: each round's upload over that round's baseline, which
            # ran right before or after it (round_order).
            ratios = [s["mb_s"] / b["mb_s"] for s, b in zip(samples, base)]
            row.update(ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios))
        gib = results["parameters"]["size_mib"] / 1024
        for group in ("apache", "app"):
            row["cpu_%s" % group] = statistics.median(s["cpu_s"][group] for s in samples) / gib
            row["rss_%s" % group] = max(s["rss_growth"][group] for s in samples) / MIB
        row["tmp"] = max(s["tmp_peak"] for s in samples) / MIB
        rows.append(row)
    return rows


def table(results):
    rows = summarize(results)
    params = results["parameters"]
    lines = ["Uploads of %d MiB, %d rounds (MB/s = 10^6 bytes/s; CPU per GiB uploaded; RSS growth is the peak "
             "over the rounds, summed over each side's processes)" % (params["size_mib"], params["rounds"]), "",
             "| Variant | Median MB/s | Min | Max | Ratio to direct, per round: median (min-max) | CPU Apache s/GiB | CPU app s/GiB "
             "| RSS growth Apache MiB | RSS growth app MiB | Apache temp MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        ratio = ("%.2f (%.2f-%.2f)" % (row["ratio"], row["ratio_min"], row["ratio_max"])) if "ratio" in row else "baseline"
        lines.append("| %s | %.1f | %.1f | %.1f | %s | %.2f | %.2f | %.1f | %.1f | %.0f |" % (
            row["variant"], row["median"], row["min"], row["max"], ratio, row["cpu_apache"], row["cpu_app"],
            row["rss_apache"], row["rss_app"], row["tmp"]))
    if results.get("sweep") and any(results["sweep"].values()):
        lines += ["", "Parallel chunked uploads of %d MiB each through Apache, mode http:" % params["sweep_size_mib"],
                  "", "| Parallel uploads | Total MB/s (median) | Min | Max | Slowest single upload MB/s |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        for n, values in results["sweep"].items():
            if values:
                agg = [v["aggregate_mb_s"] for v in values]
                lines.append("| %s | %.1f | %.1f | %.1f | %.1f |" % (
                    n, statistics.median(agg), min(agg), max(agg), min(min(v["per_upload_mb_s"]) for v in values)))
    lines += import_table(results)
    lim = results.get("limits", {})
    if lim:
        lines += ["", "Limits measured in the same container: disk write %.0f MB/s into the page cache, %.0f MB/s "
                  "with fdatasync; Python hashing in 64 KiB pieces: md5 %.0f MB/s, sha512 %.0f MB/s, both (what "
                  "Glance computes) %.0f MB/s." % (lim["disk_write_page_cache"], lim["disk_write_fdatasync"],
                                                   lim["hash_md5"], lim["hash_sha512"], lim["hash_md5+sha512"])]
    mem = results.get("memory")
    if mem:
        lines += ["", "Memory: one %d MiB chunked upload through Apache (mode http), %.1f MB/s: RSS growth Apache "
                  "%.1f MiB, uWSGI %.1f MiB (limit 32 MiB)." % (mem["size"] // MIB, mem["mb_s"],
                                                               mem["rss_growth"]["apache"] / MIB,
                                                               mem["rss_growth"]["app"] / MIB)]
    conv = results.get("converge")
    if conv:
        lines += ["", "Converge of the collection (mode http, from a prepared container): fresh %.1f s (changed=%d), "
                  "second run %.1f s (changed=%d)." % (conv["fresh_s"], conv["fresh_changed"], conv["second_s"],
                                                       conv["second_changed"])]
    ver = results.get("versions")
    if ver:
        lines += ["", "Versions: %s; Apache %s; uWSGI %s; Glance %s; kernel %s; %d CPUs (%s)." % (
            ver["container_os"], ver["apache"], ver["uwsgi"], ver["glance"], ver["kernel"], ver["cpus"], ver["cpu"])]
    return "\n".join(lines)


def import_table(results):
    """The import deployment's rows: MB/s is the image's size over each
    step's time; glance-direct end to end is its stage plus its import (from
    the import call until Glance reports the image active)."""
    imports = results.get("import") or []
    if not imports:
        return []
    size = results["parameters"]["size_mib"] * MIB
    lines = ["", "Interoperable import through Apache (mode http, Keystone admin token), %d MiB, %d rounds:" % (
        results["parameters"]["size_mib"], len(imports)), "",
        "| Step | Median s | Min s | Max s | Median MB/s | Ratio to the legacy upload, per round: median |",
        "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key, label in (("legacy_s", "legacy upload (`PUT /file`, chunked)"),
                       ("stage_s", "glance-direct: stage (`PUT /stage`, chunked)"),
                       ("import_s", "glance-direct: import (call to `active`, task done)"),
                       ("direct_s", "glance-direct end to end"),
                       ("copy_s", "copy-image to the second store")):
        values = [f[key] for f in imports]
        ratio = statistics.median(f[key] / f["legacy_s"] for f in imports)
        lines.append("| %s | %.1f | %.1f | %.1f | %.1f | %s |" % (
            label, statistics.median(values), min(values), max(values), size / MB / statistics.median(values),
            "baseline" if key == "legacy_s" else "%.2f" % ratio))
    return lines


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    rows = summarize(results)
    sweep = {int(n): v for n, v in results.get("sweep", {}).items() if v}
    fig, axes = plt.subplots(1, 2 if sweep else 1, figsize=(13 if sweep else 9, 5.2),
                             gridspec_kw={"width_ratios": [2.2, 1]} if sweep else None)
    ax = axes[0] if sweep else axes
    names = [r["variant"] for r in rows][::-1]
    medians = [r["median"] for r in rows][::-1]
    lows = [r["median"] - r["min"] for r in rows][::-1]
    highs = [r["max"] - r["median"] for r in rows][::-1]
    colors = ["#4c72b0" if "chunked" in n else "#dd8452" for n in names]
    ax.barh(names, medians, xerr=[lows, highs], color=colors, capsize=3)
    for y, row in enumerate(rows[::-1]):
        label = "%.0f" % row["median"] + ("  (%.2f of direct)" % row["ratio"] if "ratio" in row else "  baseline")
        ax.text(row["median"] * 0.02 + 2, y, label, va="center", color="white", fontsize=8, fontweight="bold")
    ax.set_xlabel("MB/s, median of %d rounds (bars: min to max)" % results["parameters"]["rounds"])
    ax.set_title("%d MiB uploads to Glance (blue: chunked, orange: Content-Length)" % results["parameters"]["size_mib"],
                 fontsize=10)
    if sweep:
        ax2 = axes[1]
        ns = sorted(sweep)
        agg = [statistics.median(v["aggregate_mb_s"] for v in sweep[n]) for n in ns]
        ax2.plot(ns, agg, marker="o")
        ax2.set_xticks(ns)
        ax2.set_xlabel("parallel chunked uploads (mode http)")
        ax2.set_ylabel("MB/s, all uploads together")
        ax2.set_ylim(bottom=0)
        ax2.set_title("%d MiB each" % results["parameters"]["sweep_size_mib"], fontsize=10)
        ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_docs(results, text):
    with open(DOC, encoding="utf-8") as handle:
        doc = handle.read()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in doc or end not in doc:
        raise BenchError("%s lacks the %s ... %s markers" % (DOC, start, end))
    block = "%s\nRun of %s to %s (`%s`):\n\n%s\n%s" % (
        start, results["started"], results["finished"], results.get("command", "scripts/bench.sh"), text, end)
    doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    with open(DOC, "w", encoding="utf-8") as handle:
        handle.write(doc)
    os.makedirs(os.path.dirname(CHART), exist_ok=True)
    chart(results, CHART)


def check_goals(results):
    """Exit status: 0 when every upload was verified (a mismatch raises
    earlier); the goals of the memory and converge figures are reported."""
    notes = []
    mem = results.get("memory")
    if mem:
        for group, label in (("apache", "Apache"), ("app", "uWSGI")):
            grew = mem["rss_growth"][group] / MIB
            notes.append("%s RSS grew %.1f MiB during %d MiB (goal <= 32): %s" % (
                label, grew, mem["size"] // MIB, "met" if grew <= 32 else "MISSED"))
    conv = results.get("converge")
    if conv:
        ok = conv["second_s"] <= 30 and conv["second_changed"] == 0
        notes.append("second converge %.1f s, changed=%d (goal <= 30 s, 0): %s" % (
            conv["second_s"], conv["second_changed"], "met" if ok else "MISSED"))
    for row in summarize(results):
        if row["variant"] in ("http chunked", "http unix chunked") and "ratio" in row:
            notes.append("%s / direct chunked = %.2f (min %.2f, max %.2f) (goal >= 0.95): %s" % (
                row["variant"], row["ratio"], row["ratio_min"], row["ratio_max"],
                "met" if row["ratio"] >= 0.95 else "MISSED"))
    return notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=int(os.environ.get("HWG_BENCH_SIZE_MIB", 1024)))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("HWG_BENCH_ROUNDS", 3)))
    parser.add_argument("--sweep-size-mib", type=int, default=256,
                        help="size of each upload in the concurrency sweep (and of the warm-up uploads)")
    parser.add_argument("--concurrency", default="1,2,4,8", help="parallel uploads of the sweep; empty skips it")
    parser.add_argument("--memory-size-mib", type=int, default=4096,
                        help="size of the memory check's chunked upload (a multiple of --size-mib); 0 skips it")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="deployments to include")
    parser.add_argument("--extra-vars", default="", help="JSON of role variables for every converge (experiments)")
    parser.add_argument("--output", default=os.path.join(OUT_DIR, "results.json"))
    parser.add_argument("--docs", action="store_true", help="write the tables and chart into docs/benchmarks.md")
    parser.add_argument("--report", metavar="RESULTS_JSON", help="only print (and with --docs, publish) a saved run")
    args = parser.parse_args()
    args.concurrency = [int(n) for n in args.concurrency.split(",") if n.strip()]
    args.configs = [c for c in args.configs.split(",") if c]
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error("unknown configs %s; choose from %s" % (", ".join(sorted(unknown)), ", ".join(CONFIGS)))
    if args.memory_size_mib and args.memory_size_mib % args.size_mib:
        parser.error("--memory-size-mib must be a multiple of --size-mib")
    try:
        if args.report:
            with open(args.report, encoding="utf-8") as handle:
                results = json.load(handle)
        else:
            results = measure(args)
            results["command"] = "scripts/bench.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            with open(args.output, "w", encoding="utf-8") as handle:
                json.dump(results, handle, indent=1)
            log("Results written to %s" % args.output)
    except BenchError as exc:
        print("BENCHMARK FAILED: %s" % exc, file=sys.stderr)
        return 1
    text = table(results)
    print(text)
    for note in check_goals(results):
        print("- " + note)
    if args.docs:
        update_docs(results, text)
        log("Updated %s and %s" % (DOC, CHART))
    else:
        chart(results, os.path.join(os.path.dirname(args.output), "benchmark.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
