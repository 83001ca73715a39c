#!/usr/bin/env bash
# Upload benchmark: deploys Glance with the collection's roles into a local
# Debian 12 container (molecule scenario "bench", ports 29592/29593) and
# measures every mode side by side, round by round (scripts/bench.py).
#   scripts/bench.sh                          # 1 GiB uploads, 3 rounds
#   scripts/bench.sh --size-mib 256 --rounds 1 --memory-size-mib 0
#   scripts/bench.sh --docs                   # also rewrite docs/benchmarks.md and its chart
#   HWG_BENCH_KEEP=1 scripts/bench.sh ...     # leave the container up afterwards
# Installs what is missing first (scripts/setup-env.sh). Results go to
# build/bench/results.json and build/bench/benchmark.png.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup-env.sh
. scripts/setup-env.sh
hwg_setup
export ANSIBLE_COLLECTIONS_PATH="$PWD/.cache/collections"
export MOLECULE_GLOB="molecule/*/molecule.yml"
# Its own apt archive cache: apt in a test scenario's container running at the
# same time would otherwise wait on the shared cache's lock.
export HWG_APT_ARCHIVES="${HWG_BENCH_APT_ARCHIVES:-/var/cache/httpd-wsgi-glance/apt-archives-bench}"
mkdir -p "$HWG_APT_ARCHIVES/partial"

python -c 'import matplotlib' 2>/dev/null || pip install -q -r requirements-bench.txt

hwg_log "Building and installing the collection"
rm -rf build/httpd_wsgi-glance-*.tar.gz .cache/collections/ansible_collections/httpd_wsgi
ansible-galaxy collection build --force --output-path build . >/dev/null
ansible-galaxy collection install --force --no-deps -p .cache/collections build/httpd_wsgi-glance-*.tar.gz >/dev/null

hwg_log "Creating the benchmark container (hwg-bench) and its MariaDB"
# Only this instance ("molecule reset" removes every molecule container).
molecule destroy -s bench >/dev/null 2>&1 || true
docker rm -f hwg-bench >/dev/null 2>&1 || true
molecule create -s bench
molecule prepare -s bench

status=0
python scripts/bench.py "$@" || status=$?
if [ -z "${HWG_BENCH_KEEP:-}" ]; then
  molecule destroy -s bench >/dev/null 2>&1 || true
fi
exit "$status"
