#!/usr/bin/env bash
# Writes roles/glance_wsgi/files/constraints/glance-VERSION.txt: the exact
# versions pip resolves today for Glance VERSION from PyPI, as a constraints
# file for install method venv, with the MySQL driver and memcached client
# the role adds when the settings need them.
#
# OpenStack publishes its tested pins as upper-constraints
# (https://releases.openstack.org/constraints/upper/<series>); a host that
# can reach it should use that through glance_wsgi_venv_constraints_url.
# This script is for machines that reach PyPI only: its pins are reproducible,
# not the ones OpenStack's gate tested.
#
# Usage: scripts/gen_venv_constraints.sh VERSION [PYTHON]
set -euo pipefail
version="${1:?usage: $0 GLANCE_VERSION [PYTHON]}"
python="${2:-python3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/roles/glance_wsgi/files/constraints/glance-$version.txt"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$python" -m venv "$tmp/venv"
# --isolated: only PyPI, whatever pip configuration this machine has.
"$tmp/venv/bin/pip" install --isolated --cert "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" \
  -q "glance==$version" PyMySQL python-memcached
{
  echo "# Constraints for Glance $version from PyPI, resolved by scripts/gen_venv_constraints.sh"
  echo "# on $(date -u +%Y-%m-%d) with $("$tmp/venv/bin/python" -V)."
  echo "# Glance itself and uWSGI are pinned by the role's variables, not here."
  "$tmp/venv/bin/pip" freeze --all --exclude pip --exclude setuptools | grep -v -i -E '^(glance|uwsgi)=='
} > "$out"
echo "wrote $out ($(grep -c '==' "$out") pins)"
