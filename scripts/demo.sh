#!/usr/bin/env bash
# Deploys Glance behind Apache and uWSGI into a local Debian 12 container (the
# molecule "default" scenario's instance) and proves a chunked upload through
# Apache. Installs what is missing first (scripts/setup-env.sh).
#   scripts/demo.sh                  # 256 MiB chunked upload
#   HWG_DEMO_SIZE_MIB=1024 scripts/demo.sh
# Remove the container afterwards with: scripts/demo.sh destroy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup-env.sh
. scripts/setup-env.sh
hwg_setup
export ANSIBLE_COLLECTIONS_PATH="$PWD/.cache/collections"
export MOLECULE_GLOB="molecule/*/molecule.yml"

if [ "${1:-}" = destroy ]; then
  exec molecule destroy -s default
fi

hwg_log "Building and installing the collection"
rm -rf build .cache/collections
ansible-galaxy collection build --force --output-path build . >/dev/null
ansible-galaxy collection install --force --no-deps -p .cache/collections build/httpd_wsgi-glance-*.tar.gz >/dev/null

hwg_log "Deploying Glance, uWSGI and Apache into a Debian 12 container (a few minutes the first time)"
# Molecule's state can outlive its container (another checkout, a reboot):
# start from a clean state unless the container is really running.
if [ "$(docker inspect -f '{{.State.Running}}' hwg-debian12 2>/dev/null)" != true ]; then
  molecule reset -s default >/dev/null 2>&1 || true
  docker rm -f hwg-debian12 >/dev/null 2>&1 || true
fi
molecule create -s default
molecule converge -s default

endpoint=http://127.0.0.1:29292
inventory=.cache/demo-inventory.ini
printf '[glance_api]\nhwg-debian12 ansible_connection=community.docker.docker ansible_python_interpreter=/usr/bin/python3\n' >"$inventory"
hwg_log "Proving it: ${HWG_DEMO_SIZE_MIB:-256} MiB of random data, Transfer-Encoding: chunked with Expect: 100-continue, to $endpoint"
ANSIBLE_DISPLAY_OK_HOSTS=true ansible-playbook -i "$inventory" httpd_wsgi.glance.verify \
  -e glance_verify_endpoint="$endpoint" -e glance_verify_size_mib="${HWG_DEMO_SIZE_MIB:-256}" \
  -e '{"glance_verify_transfers": ["chunked"]}'
hwg_log "Glance is at $endpoint (container hwg-debian12); remove it with: scripts/demo.sh destroy"
