#!/usr/bin/env bash
# Prepares this machine for the demo and the test suite, installing only what is
# missing: a Python virtualenv with the pinned toolchain, the Ansible collections
# the tests need (taken from the `ansible` wheel on PyPI, since no Galaxy server
# may be reachable), a Docker engine, and systemd base images built offline with
# mmdebstrap when no registry image is configured.
#
# Sourced (`. scripts/setup-env.sh`), it only defines the variables the
# molecule scenarios read and the functions; `hwg_setup` then prepares the
# machine and puts the virtualenv on PATH. Run directly, it prepares the
# machine.
set -euo pipefail

HWG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HWG_VENV="${HWG_VENV:-$HWG_ROOT/.venv}"
HWG_CACHE="${HWG_CACHE:-/var/cache/httpd-wsgi-glance}"
# Version of the `ansible` package whose bundled collections are used; 12.x is
# the line that matches ansible-core 2.19.
HWG_ANSIBLE_BUNDLE_VERSION="${HWG_ANSIBLE_BUNDLE_VERSION:-12.3.0}"
HWG_BUNDLED_COLLECTIONS=(community/docker community/library_inventory_filtering_v1 ansible/posix community/general openstack/cloud)
HWG_DEBIAN_MIRROR="${HWG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export MOLECULE_DEBIAN12_IMAGE="${MOLECULE_DEBIAN12_IMAGE:-localhost/httpd-wsgi-glance/debian-systemd:12}"
export MOLECULE_DEBIAN13_IMAGE="${MOLECULE_DEBIAN13_IMAGE:-localhost/httpd-wsgi-glance/debian-systemd:13}"
HWG_DEMO_IMAGE="${HWG_DEMO_IMAGE:-localhost/httpd-wsgi-glance/debian-systemd-glance:12}"
export HWG_EL_CHECK_IMAGE="${HWG_EL_CHECK_IMAGE:-localhost/httpd-wsgi-glance/el-check:2}"
export HWG_APT_ARCHIVES="${HWG_APT_ARCHIVES:-$HWG_CACHE/apt-archives}"
# How long community.docker's modules (molecule's create and destroy) wait for
# one answer from the Docker daemon. Their default, 60 s, is too short on a
# busy 2-core machine: removing a container whose layer holds gigabytes of
# uploads took longer while four scenarios ran (a CI run failed on it).
export DOCKER_TIMEOUT="${DOCKER_TIMEOUT:-300}"
# pip's cache for the venv scenario (it keeps the uWSGI wheel pip builds), and
# the CA bundle pip inside the containers trusts for PyPI.
export HWG_PIP_CACHE="${HWG_PIP_CACHE:-$HWG_CACHE/pip}"
export HWG_HOST_CA_BUNDLE="${HWG_HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

hwg_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# hwg_step LOG LABEL COMMAND...: runs COMMAND with its output appended to LOG
# (and shown too when HWG_VERBOSE is true) and prints one line: "LABEL ... N s",
# or "LABEL ... failed after N s" followed by hwg_show_failure's excerpt of
# LOG. Returns COMMAND's status. COMMAND runs in a background subshell, so
# errexit holds inside it (bash ignores errexit in a command tested with || or
# if) and it cannot change the caller's variables.
hwg_step() {
  local log="$1" label="$2" t0=$SECONDS status=0 verbose="${HWG_VERBOSE:-false}"
  shift 2
  if [ "$verbose" = true ]; then
    printf '%s\n' "$label"
    ("$@") > >(tee -a "$log") 2>&1 &
  else
    printf '%s ... ' "$label"
    ("$@") >>"$log" 2>&1 &
  fi
  wait "$!" || status=$?
  [ "$verbose" != true ] || printf '%s: ' "$label"
  if [ "$status" -eq 0 ]; then
    printf '%d s\n' "$((SECONDS - t0))"
  else
    printf 'failed after %d s\n' "$((SECONDS - t0))"
    hwg_show_failure "$log"
  fi
  return "$status"
}

# hwg_show_failure LOG: the lines of LOG that name a failure (pytest's,
# Ansible's, molecule's), then its last 40 lines, then its path.
hwg_show_failure() {
  local log="$1" named
  named="$(grep -E '^(FAILED |E   |fatal: |failed: \[|ERROR |CRITICAL )' "$log" | head -n 40 | cut -c1-2000)" || true
  [ -z "$named" ] || printf '    failures named in the log:\n%s\n' "$(sed 's/^/      /' <<<"$named")"
  printf '    last lines of the log:\n'
  tail -n 40 "$log" | cut -c1-400 | sed 's/^/      /'
  printf '    full log: %s\n' "$log"
}

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
  # One apt at a time: the demo builds its base image beside the virtualenv,
  # and apt-get refuses to run while another holds its lock.
  mkdir -p "$HWG_CACHE"
  (
    flock 8
    hwg_log "Installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ) 8>"$HWG_CACHE/apt.lock"
}

hwg_setup_venv() {
  local stamp="$HWG_VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$HWG_ROOT/requirements-dev.txt" | cut -d' ' -f1)-$HWG_ANSIBLE_BUNDLE_VERSION-${HWG_BUNDLED_COLLECTIONS[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  python3 -c 'import ensurepip' 2>/dev/null || hwg_apt_install python3-venv
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

# Builds IMAGE from Debian SUITE unless the engine already has it, with
# mmdebstrap: apt fetches the packages in parallel and dpkg skips fsync, so a
# base image takes about 25 s where debootstrap took 50.
hwg_base_image() {
  local image="$1" suite="$2"
  if docker image inspect "$image" >/dev/null 2>&1; then
    return 0
  fi
  if [[ "$image" != localhost/* ]] && docker pull -q "$image" >/dev/null 2>&1; then
    return 0
  fi
  hwg_apt_install mmdebstrap debian-archive-keyring
  hwg_need_root "mmdebstrap"
  local tarball="$HWG_CACHE/rootfs-$suite.tar" sources
  sources="deb $HWG_DEBIAN_MIRROR $suite main
deb $HWG_DEBIAN_MIRROR $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main"
  rm -f "$tarball"
  hwg_log "Building $image with mmdebstrap ($suite from $HWG_DEBIAN_MIRROR); about 30 s"
  # merged-usr: /usr merged by the hook, as debootstrap does, instead of the
  # usrmerge package (and Perl with it). The apt lists stay, so that a first
  # apt-get in a container knows the suite.
  mmdebstrap --variant=minbase \
    --include=systemd,systemd-sysv,python3,python3-apt,sudo,ca-certificates,curl,iproute2,procps \
    --dpkgopt=force-unsafe-io --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --skip=cleanup/apt/lists \
    --customize-hook="printf '%s\n' '$sources' >\"\$1/etc/apt/sources.list\"" \
    --customize-hook='rm -f "$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap"; : >"$1/etc/machine-id"; rm -f "$1/etc/hostname"' \
    "$suite" "$tarball" "$HWG_DEBIAN_MIRROR" >"$HWG_CACHE/mmdebstrap-$suite.log" 2>&1 || {
      tail -20 "$HWG_CACHE/mmdebstrap-$suite.log" >&2
      rm -f "$tarball"
      return 1
    }
  docker import -c 'CMD ["/lib/systemd/systemd"]' "$tarball" "$image" >/dev/null
  rm -f "$tarball"
}

# An image with Debian's Apache and mod_wsgi laid out as EL's httpd expects
# (user apache, /usr/lib64/httpd/modules with mod_wsgi_python3.so), used to
# syntax-check the collection's RHEL-family configuration offline (tests/el).
hwg_el_check_image() {
  local image="$HWG_EL_CHECK_IMAGE" name="hwg-el-check-build"
  if docker image inspect "$image" >/dev/null 2>&1; then
    return 0
  fi
  hwg_log "Building $image (Apache for the offline EL configuration check)"
  docker rm -f "$name" >/dev/null 2>&1 || true
  # policy-rc.d: installing apache2 must not start it (host network, port 80).
  docker run --name "$name" --network host \
    -v "$HWG_APT_ARCHIVES:/var/cache/apt/archives" "$MOLECULE_DEBIAN12_IMAGE" bash -euc '
      printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        apache2 libapache2-mod-wsgi-py3 media-types >/dev/null
      useradd --system --no-create-home apache
      # The user that WSGIDaemonProcess names in mode mod_wsgi (the role creates it on EL).
      useradd --system --no-create-home glance
      mkdir -p /usr/lib64/httpd/modules /var/log/httpd /run/httpd /var/www/html /var/www/cgi-bin \
        /usr/share/httpd/noindex /usr/share/httpd/icons
      ln -s /usr/lib/apache2/modules/*.so /usr/lib64/httpd/modules/
      ln -s /usr/lib/apache2/modules/mod_wsgi.so /usr/lib64/httpd/modules/mod_wsgi_python3.so
      test -e /usr/lib64/httpd/modules/mod_wsgi_python3.so -a -e /usr/lib64/httpd/modules/mod_proxy_uwsgi.so
      rm /usr/sbin/policy-rc.d' >/dev/null
  docker commit -c 'CMD ["/bin/bash"]' "$name" "$image" >/dev/null
  docker rm -f "$name" >/dev/null
}

# The checkout as a collection, so that `molecule test -s NAME` run by hand
# from the checkout finds httpd_wsgi.glance (scripts/test.sh puts the built
# tarball ahead of it; .config/molecule/config.yml).
hwg_checkout_collection() {
  mkdir -p "$HWG_ROOT/.cache/checkout/ansible_collections/httpd_wsgi"
  ln -sfn ../../../.. "$HWG_ROOT/.cache/checkout/ansible_collections/httpd_wsgi/glance"
}

# The toolchain only: virtualenv, collections, Docker; the virtualenv on PATH.
hwg_setup_toolchain() {
  hwg_apt_install unzip
  hwg_setup_venv
  hwg_checkout_collection
  hwg_docker_up
  mkdir -p "$HWG_APT_ARCHIVES/partial" "$HWG_PIP_CACHE"
  export PATH="$HWG_VENV/bin:$PATH"
  export VIRTUAL_ENV="$HWG_VENV"
}

# The images named (debian12, debian13, el-check), built where missing.
hwg_setup_images() {
  local name
  # One builder at a time: two runs sharing this machine must not build
  # into the same directory.
  mkdir -p "$HWG_CACHE"
  (
    flock 9
    for name in "$@"; do
      case "$name" in
        debian12) hwg_base_image "$MOLECULE_DEBIAN12_IMAGE" bookworm ;;
        debian13) hwg_base_image "$MOLECULE_DEBIAN13_IMAGE" trixie ;;
        el-check) hwg_el_check_image ;;
        *) hwg_log "unknown image $name"; return 1 ;;
      esac
    done
  ) 9>"$HWG_CACHE/images.lock"
}

# hwg_role_list ROLE NAME: the list NAME in ROLE's vars/Debian.yml, on one line.
hwg_role_list() {
  "$HWG_VENV/bin/python" -c 'import sys, yaml
print(" ".join(yaml.safe_load(open(sys.argv[1]))[sys.argv[2]]))' \
    "$HWG_ROOT/roles/$1/vars/Debian.yml" "$2"
}

# The demo's image: the Debian 12 image with the packages the roles install
# for the package install method (roles/*/vars/Debian.yml), installed but not
# started, so that a deployment into a new demo container skips dpkg. Built
# again when the Debian 12 image or those package lists change, or after a
# week, for the packages' updates. The test suite never uses it: its
# scenarios install everything themselves.
hwg_demo_image() {
  local base="$MOLECULE_DEBIAN12_IMAGE" base_id label created packages apache name=hwg-demo-image-build
  base_id="$(docker image inspect -f '{{.Id}}' "$base")" || return 1
  # Glance's packages (masked: the role runs Glance under uWSGI) and
  # Apache's (disabled: the role starts it once its sites are written).
  packages="$(hwg_role_list glance_wsgi __glance_wsgi_package_packages)" || return 1
  apache="$(hwg_role_list apache_proxy __apache_proxy_packages)" || return 1
  if docker image inspect "$HWG_DEMO_IMAGE" >/dev/null 2>&1; then
    label="$(docker image inspect -f '{{index .Config.Labels "hwg.base"}}' "$HWG_DEMO_IMAGE")"
    created="$(docker image inspect -f '{{.Created}}' "$HWG_DEMO_IMAGE")"
    if [ "$label" = "$base_id $packages $apache" ] && [ $(($(date +%s) - $(date -d "$created" +%s))) -lt 604800 ]; then
      return 0
    fi
  fi
  hwg_log "Building $HWG_DEMO_IMAGE: $base with $packages $apache"
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --network host -v "$HWG_APT_ARCHIVES:/var/cache/apt/archives" \
    "$base" sleep infinity >/dev/null || return 1
  # policy-rc.d keeps the packaged service from starting; masked, it stays
  # down when a container of this image boots (the role masks it anyway).
  local status=0
  docker exec -e DEBIAN_FRONTEND=noninteractive -e "PACKAGES=$packages" -e "APACHE=$apache" "$name" sh -ec '
      printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d
      chmod 0755 /usr/sbin/policy-rc.d
      apt-get update -qq
      # Each package compiling its own modules is half of dpkg'"'"'s time:
      # compile them all at the end, on both cores.
      dpkg-divert --quiet --local --rename --add /usr/bin/py3compile
      ln -s /bin/true /usr/bin/py3compile
      # What glance_wsgi installs (glance_wsgi_install_recommends false).
      apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io $PACKAGES $APACHE >/dev/null
      rm /usr/bin/py3compile
      dpkg-divert --quiet --local --rename --remove /usr/bin/py3compile
      python3 -m compileall -q -j 0 /usr/lib/python3/dist-packages >/dev/null || true
      rm -f /usr/sbin/policy-rc.d
      for unit in $(dpkg -L $PACKAGES | grep "^/lib/systemd/system/.*\.service$"); do
        ln -sf /dev/null "/etc/systemd/system/${unit##*/}"
      done
      rm -f /etc/systemd/system/multi-user.target.wants/apache2.service' || status=$?
  [ "$status" -ne 0 ] || docker commit --change 'CMD ["/lib/systemd/systemd"]' \
    --change "LABEL hwg.base=\"$base_id $packages $apache\"" "$name" "$HWG_DEMO_IMAGE" >/dev/null || status=$?
  docker rm -f "$name" >/dev/null
  return "$status"
}

# Everything the test suite uses.
hwg_setup() {
  hwg_setup_toolchain
  hwg_setup_images debian12 debian13 el-check
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  hwg_setup
fi
