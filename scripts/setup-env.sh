#!/usr/bin/env bash
# Prepares this machine for the demo and the test suite, installing only what is
# missing: a Python virtualenv with the pinned toolchain, the Ansible collections
# the tests need (taken from the `ansible` wheel on PyPI, since no Galaxy server
# may be reachable), a Docker engine, and systemd base images built offline with
# debootstrap when no registry image is configured.
#
# Source it (`. scripts/setup-env.sh`) to get the virtualenv on PATH and the
# variables the molecule scenarios read; run it to just prepare the machine.
set -euo pipefail

HWG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HWG_VENV="${HWG_VENV:-$HWG_ROOT/.venv}"
HWG_CACHE="${HWG_CACHE:-/var/cache/httpd-wsgi-glance}"
# Version of the `ansible` package whose bundled collections are used; 12.x is
# the line that matches ansible-core 2.19.
HWG_ANSIBLE_BUNDLE_VERSION="${HWG_ANSIBLE_BUNDLE_VERSION:-12.3.0}"
HWG_BUNDLED_COLLECTIONS=(community/docker community/library_inventory_filtering_v1 ansible/posix)
HWG_DEBIAN_MIRROR="${HWG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export MOLECULE_DEBIAN12_IMAGE="${MOLECULE_DEBIAN12_IMAGE:-localhost/httpd-wsgi-glance/debian-systemd:12}"
export MOLECULE_DEBIAN13_IMAGE="${MOLECULE_DEBIAN13_IMAGE:-localhost/httpd-wsgi-glance/debian-systemd:13}"
export HWG_APT_ARCHIVES="${HWG_APT_ARCHIVES:-$HWG_CACHE/apt-archives}"

hwg_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

hwg_need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    hwg_log "$1 needs root; run this script as root or provide it yourself."
    return 1
  fi
}

hwg_apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  hwg_need_root "Installing ${missing[*]}"
  hwg_log "Installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

hwg_setup_venv() {
  local stamp="$HWG_VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$HWG_ROOT/requirements-dev.txt" | cut -d' ' -f1)-$HWG_ANSIBLE_BUNDLE_VERSION"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  hwg_log "Creating the virtualenv $HWG_VENV"
  python3 -m venv "$HWG_VENV"
  "$HWG_VENV/bin/pip" install -q --disable-pip-version-check -r "$HWG_ROOT/requirements-dev.txt"
  hwg_log "Taking ${HWG_BUNDLED_COLLECTIONS[*]} from ansible==$HWG_ANSIBLE_BUNDLE_VERSION"
  local tmp site
  tmp="$(mktemp -d)"
  "$HWG_VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" "ansible==$HWG_ANSIBLE_BUNDLE_VERSION"
  site="$("$HWG_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  local patterns=()
  for c in "${HWG_BUNDLED_COLLECTIONS[@]}"; do patterns+=("ansible_collections/$c/*"); done
  rm -rf "${HWG_BUNDLED_COLLECTIONS[@]/#/$site/ansible_collections/}"
  unzip -q -o "$tmp"/ansible-*.whl "${patterns[@]}" -d "$site"
  rm -rf "$tmp"
  echo "$want" >"$stamp"
}

hwg_docker_up() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    hwg_apt_install docker.io
  fi
  hwg_need_root "Starting dockerd"
  hwg_log "Starting dockerd (no bridge: containers get host networking or none)"
  mkdir -p "$HWG_CACHE"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false \
    >"$HWG_CACHE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  hwg_log "dockerd did not answer within 60 s; see $HWG_CACHE/dockerd.log"
  return 1
}

# Builds IMAGE from a debootstrapped Debian SUITE unless the engine already has it.
hwg_base_image() {
  local image="$1" suite="$2"
  if docker image inspect "$image" >/dev/null 2>&1; then
    return 0
  fi
  if [[ "$image" != localhost/* ]] && docker pull -q "$image" >/dev/null 2>&1; then
    return 0
  fi
  hwg_apt_install debootstrap
  hwg_need_root "debootstrap"
  local dir="$HWG_CACHE/rootfs-$suite"
  rm -rf "$dir"
  hwg_log "Building $image with debootstrap ($suite from $HWG_DEBIAN_MIRROR); about a minute"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,python3,python3-apt,sudo,ca-certificates,curl,iproute2,procps \
    "$suite" "$dir" "$HWG_DEBIAN_MIRROR" >"$HWG_CACHE/debootstrap-$suite.log" 2>&1 || {
      tail -20 "$HWG_CACHE/debootstrap-$suite.log" >&2
      return 1
    }
  cat >"$dir/etc/apt/sources.list" <<SOURCES
deb $HWG_DEBIAN_MIRROR $suite main
deb $HWG_DEBIAN_MIRROR $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
  # Keep downloaded .debs: the scenarios share an archive directory between runs.
  rm -f "$dir/etc/apt/apt.conf.d/docker-clean"
  : >"$dir/etc/machine-id"
  tar -C "$dir" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$image" >/dev/null
  rm -rf "$dir"
}

hwg_setup() {
  hwg_apt_install unzip
  hwg_setup_venv
  hwg_docker_up
  mkdir -p "$HWG_APT_ARCHIVES/partial"
  # One builder at a time: two runs sharing this machine must not debootstrap
  # into the same directory.
  (
    flock 9
    hwg_base_image "$MOLECULE_DEBIAN12_IMAGE" bookworm
    hwg_base_image "$MOLECULE_DEBIAN13_IMAGE" trixie
  ) 9>"$HWG_CACHE/images.lock"
}

hwg_setup
export PATH="$HWG_VENV/bin:$PATH"
export VIRTUAL_ENV="$HWG_VENV"
