#!/usr/bin/env bash
# Deploys Glance behind Apache and uWSGI into a local Debian 12 container (the
# molecule "default" scenario's instance) and proves a chunked upload through
# Apache. Installs what is missing first (scripts/setup-env.sh), and builds
# only the Debian 12 image it uses, plus a copy with Glance's and Apache's
# packages installed, so that a deployment into a new container skips dpkg.
#   scripts/demo.sh                  # 256 MiB chunked upload; one line per step
#   scripts/demo.sh --verbose        # the same, with molecule's and Ansible's output
#   HWG_DEMO_SIZE_MIB=1024 scripts/demo.sh
#   scripts/demo.sh destroy          # remove the container
# The full output of every step goes to a log file (its path is printed); a
# failing step shows its last lines.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup-env.sh
. scripts/setup-env.sh

HWG_VERBOSE=false
action=deploy
for arg in "$@"; do
  case "$arg" in
    -v | --verbose) HWG_VERBOSE=true ;;
    destroy) action=destroy ;;
    *) echo "usage: $0 [--verbose] [destroy]" >&2; exit 2 ;;
  esac
done

export ANSIBLE_COLLECTIONS_PATH="$PWD/.cache/collections"
export MOLECULE_GLOB="molecule/*/molecule.yml"
# The demo's molecule state, apart from the test suite's.
export MOLECULE_EPHEMERAL_DIRECTORY="$PWD/.cache/demo/molecule"
endpoint=http://127.0.0.1:29292
size_mib="${HWG_DEMO_SIZE_MIB:-256}"
mkdir -p .cache/demo
log="$PWD/.cache/demo/demo-$(date +%Y%m%d-%H%M%S).log"
: >"$log"
steps=5
step=0
started=$SECONDS

# run_step TITLE COMMAND...: one numbered line with the step's time; the
# command's output goes to the log (and to the screen with --verbose). A
# failing step shows the log's last lines and stops the demo.
run_step() {
  local title="$1"
  shift
  step=$((step + 1))
  hwg_step "$log" "$(printf '[%d/%d] %s' "$step" "$steps" "$title")" "$@" || exit 1
}

if [ "$action" = destroy ]; then
  steps=2
  run_step "tools (virtualenv, Docker)" hwg_setup_toolchain
  export PATH="$HWG_VENV/bin:$PATH" VIRTUAL_ENV="$HWG_VENV"
  run_step "removing the container hwg-default" molecule destroy -s default
  exit 0
fi

build_collection() {
  rm -rf build .cache/collections
  ansible-galaxy collection build --force --output-path build .
  ansible-galaxy collection install --force --no-deps -p .cache/collections build/httpd_wsgi-glance-*.tar.gz
}

deploy() {
  # Molecule's state can outlive its container (a reboot, a test run that
  # removed it): start from a clean state unless the container is really
  # running. The state is the demo's own, so this needs no "molecule
  # destroy" (4 s), and only this instance goes.
  if [ "$(docker inspect -f '{{.State.Running}}' hwg-default 2>/dev/null)" != true ]; then
    rm -rf "$MOLECULE_EPHEMERAL_DIRECTORY"
    docker rm -f hwg-default || true
  fi
  molecule create -s default
  molecule converge -s default
}

verify() {
  local inventory=.cache/demo/inventory.ini
  printf '[glance_api]\nhwg-default ansible_connection=community.docker.docker ansible_python_interpreter=/usr/bin/python3\n' >"$inventory"
  ANSIBLE_STDOUT_CALLBACK=ansible.builtin.json ansible-playbook -i "$inventory" httpd_wsgi.glance.verify \
    -e glance_verify_endpoint="$endpoint" -e glance_verify_size_mib="$size_mib" \
    -e '{"glance_verify_transfers": ["chunked"]}' >.cache/demo/verify.json
  cat .cache/demo/verify.json
}

# The base image's build (about 30 s) needs Docker but not the
# virtualenv: where the image is missing, it runs while pip fills the
# virtualenv. The image step then waits for it on hwg_setup_images' lock
# (and builds the image itself if that build failed).
tools() {
  hwg_docker_up
  if ! docker image inspect "$MOLECULE_DEBIAN12_IMAGE" >/dev/null 2>&1; then
    hwg_log "Building the Debian 12 image in the background (log: ${log%.log}-image.log)"
    (hwg_setup_images debian12 >"${log%.log}-image.log" 2>&1 &)
  fi
  hwg_setup_toolchain
}
run_step "tools (virtualenv, collections, Docker)" tools
export PATH="$HWG_VENV/bin:$PATH" VIRTUAL_ENV="$HWG_VENV"
demo_image() {
  hwg_setup_images debian12
  hwg_demo_image
}
run_step "Debian 12 image, with Glance's and Apache's packages installed" demo_image
# The container starts from it: the deployment skips dpkg's longest part.
export MOLECULE_DEBIAN12_IMAGE="$HWG_DEMO_IMAGE"
run_step "the collection, built and installed" build_collection
run_step "Glance, uWSGI and Apache deployed into the container hwg-default" deploy
run_step "a $size_mib MiB chunked upload through Apache, checked" verify

# The upload's own result line (the image_upload module's message).
result="$(python3 - .cache/demo/verify.json <<'EOF'
import json
import sys

with open(sys.argv[1], encoding="utf-8") as handle:
    report = json.load(handle)
for task in report["plays"][0]["tasks"]:
    for host in task["hosts"].values():
        for item in host.get("results", []):
            if item.get("msg"):
                print(item["msg"])
EOF
)"
cat <<EOF

${result}

Done in $((SECONDS - started)) s. Glance answers at ${endpoint} (container hwg-default,
no Keystone: on loopback only). Upload an image yourself with:
  glance --os-image-url ${endpoint} --os-auth-token none image-create --name demo \\
    --disk-format raw --container-format bare --file ./image.raw
  openstack --os-auth-type none --os-endpoint ${endpoint} image create \\
    --disk-format raw --container-format bare --file ./image.raw demo
Full log: ${log}
Remove it: scripts/demo.sh destroy
EOF
