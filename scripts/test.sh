#!/usr/bin/env bash
# The whole test suite: lint, unit tests, and every molecule scenario that can
# run on this machine. Installs what is missing first (scripts/setup-env.sh).
#   scripts/test.sh                # everything
#   scripts/test.sh lint unit      # only some stages
#   HWG_SCENARIOS="default" scripts/test.sh molecule
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup-env.sh
. scripts/setup-env.sh

stages=("$@")
[ "${#stages[@]}" -gt 0 ] || stages=(build lint sanity unit el molecule)
started=$SECONDS
declare -a results=()

run_stage() {
  local name="$1"; shift
  hwg_log "Stage: $name"
  local t0=$SECONDS
  if "$@"; then
    results+=("PASS $name ($((SECONDS - t0)) s)")
  else
    results+=("FAIL $name ($((SECONDS - t0)) s)")
    summary
    exit 1
  fi
}

summary() {
  hwg_log "Summary (total $((SECONDS - started)) s)"
  printf '  %s\n' "${results[@]}"
  local passed failed
  passed=$(printf '%s\n' "${results[@]}" | grep -c '^PASS' || true)
  failed=$(printf '%s\n' "${results[@]}" | grep -c '^FAIL' || true)
  printf 'stages: %d passed, %d failed\n' "$passed" "$failed"
}

# Builds the collection tarball and installs it where the playbooks and
# molecule look for it, exactly as an operator would.
stage_build() {
  rm -rf build .cache/collections
  ansible-galaxy collection build --force --output-path build . >/dev/null
  ansible-galaxy collection install --force --no-deps -p .cache/collections build/httpd_wsgi-glance-*.tar.gz >/dev/null
  ansible-doc -t role httpd_wsgi.glance.glance_wsgi >/dev/null
}

stage_lint() {
  yamllint --strict .
  ansible-lint --offline --profile production
}

stage_sanity() {
  bash scripts/sanity.sh
}

stage_unit() {
  pytest -p no:cacheprovider -q tests/unit
}

# The RHEL-family Apache configuration, rendered by the roles with the
# RedHat variables into a replica of EL's /etc/httpd and tested by Apache
# (no EL image or RPM is needed; tests/el/README.md).
stage_el() {
  pytest -p no:cacheprovider -q tests/el
}

stage_molecule() {
  local scenarios
  read -r -a scenarios <<<"${HWG_SCENARIOS:-default debian13 venv uwsgi mod_wsgi buffering mode_switch}"
  for scenario in "${scenarios[@]}"; do
    molecule test -s "$scenario"
  done
}

export ANSIBLE_COLLECTIONS_PATH="$PWD/.cache/collections"
export MOLECULE_GLOB="molecule/*/molecule.yml"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
for stage in "${stages[@]}"; do
  run_stage "$stage" "stage_$stage"
done
summary
