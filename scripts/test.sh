#!/usr/bin/env bash
# The whole test suite: lint, unit tests, and every molecule scenario that can
# run on this machine. Installs what is missing first (scripts/setup-env.sh).
# Prints one line per stage and per scenario with its time; the full output
# of each goes to a log file under .cache/test/ (a failure shows the lines
# that name it and the log's last lines), and the last line counts what
# passed and failed.
#   scripts/test.sh                # everything
#   scripts/test.sh lint unit      # only some stages
#   scripts/test.sh --verbose      # the full output on the screen too
#   HWG_SCENARIOS="default" scripts/test.sh molecule
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup-env.sh
. scripts/setup-env.sh

HWG_VERBOSE=false
stages=()
for arg in "$@"; do
  case "$arg" in
    -v | --verbose) HWG_VERBOSE=true ;;
    *) stages+=("$arg") ;;
  esac
done
[ "${#stages[@]}" -gt 0 ] || stages=(build lint sanity unit el molecule)
logs="$PWD/.cache/test/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$logs"
printf 'Logs of this run: %s\n' "$logs"
started=$SECONDS
stages_passed=0 stages_failed=0 scenarios_passed=0 scenarios_failed=0 scenarios_skipped=0
hwg_step "$logs/setup.log" "setup (scripts/setup-env.sh)" hwg_setup || exit 1
export PATH="$HWG_VENV/bin:$PATH" VIRTUAL_ENV="$HWG_VENV"

summary() {
  printf 'Total %d s. stages: %d passed, %d failed; scenarios: %d passed, %d failed, %d skipped\n' \
    "$((SECONDS - started))" "$stages_passed" "$stages_failed" \
    "$scenarios_passed" "$scenarios_failed" "$scenarios_skipped"
}

# Builds the collection tarball and installs it where the playbooks and
# molecule look for it, exactly as an operator would.
stage_build() {
  rm -rf build .cache/collections
  # The version galaxy.yml names has been released with antsibull-changelog
  # (it is in changelogs/changelog.yaml and CHANGELOG.rst), the fragments
  # written since are valid, and a tagged commit's tag names that version.
  antsibull-changelog lint || return 1
  local version tag
  version="$(python3 -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')" || return 1
  python3 -c 'import sys, yaml; sys.exit(sys.argv[1] not in yaml.safe_load(open("changelogs/changelog.yaml"))["releases"])' \
    "$version" || { hwg_log "galaxy.yml names $version, which changelogs/changelog.yaml has not released"; return 1; }
  grep -q "^v$version\$" CHANGELOG.rst || { hwg_log "CHANGELOG.rst has no section for $version"; return 1; }
  tag="$(git describe --tags --exact-match 2>/dev/null || true)"
  if [ -n "$tag" ] && [ "$tag" != "v$version" ]; then
    hwg_log "this commit is tagged $tag but galaxy.yml names $version"; return 1
  fi
  ansible-galaxy collection build --force --output-path build . >/dev/null || return 1
  [ -f "build/httpd_wsgi-glance-$version.tar.gz" ] || { hwg_log "no tarball for version $version"; return 1; }
  # The tarball carries the license galaxy.yml names, and no test of a
  # script it leaves out.
  local listing
  listing="$(tar -tzf build/httpd_wsgi-glance-*.tar.gz)" || return 1
  grep -qx 'LICENSE' <<<"$listing" || { hwg_log "the tarball has no LICENSE"; return 1; }
  if grep -q '^scripts/\|test_bench_report' <<<"$listing"; then
    hwg_log "the tarball carries scripts/ or tests that need them"; return 1
  fi
  ansible-galaxy collection install --force --no-deps -p .cache/collections build/httpd_wsgi-glance-*.tar.gz >/dev/null || return 1
  ansible-doc -t role httpd_wsgi.glance.glance_wsgi >/dev/null
}

stage_lint() {
  yamllint --strict . || return 1
  ansible-lint --offline --profile production || return 1
  # The CI workflow for registries-reachable CI, against GitHub's schema
  # (vendored in check-jsonschema, so no network is needed).
  check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
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

# The image a scenario needs, when that is not a Debian image built here.
scenario_image() {
  case "$1" in
    el9) echo "${MOLECULE_EL9_IMAGE:-docker.io/almalinux/9-init}" ;;
    el10) echo "${MOLECULE_EL10_IMAGE:-docker.io/almalinux/10-init}" ;;
  esac
}

# Scenarios in HWG_BACKGROUND_SCENARIOS run beside the others (they have
# their own container names and ports; faults spends most of its time in
# throttled uploads). It lists lanes separated by spaces; the scenarios of a
# lane, joined by "+", run one after the other (default: faults then cluster
# in one lane, keystone then buffering in another, so that at most three
# scenarios share the machine's two cores). Each scenario gets its own apt
# archive directory, so that two apt runs never share a lock.
start_background_scenarios() {
  local lane scenario
  for lane in "$@"; do
    IFS=+ read -r -a lane_scenarios <<<"$lane"
    for scenario in "${lane_scenarios[@]}"; do
      printf '  scenario %s starts in the background (log: %s)\n' "$scenario" "$logs/molecule-$scenario.log"
      mkdir -p "$HWG_CACHE/apt-archives-$scenario/partial"
      background_names+=("$scenario")
    done
    (
      for scenario in "${lane_scenarios[@]}"; do
        log="$logs/molecule-$scenario.log"
        t0=$SECONDS
        if HWG_APT_ARCHIVES="$HWG_CACHE/apt-archives-$scenario" molecule test -s "$scenario" >"$log" 2>&1; then
          echo "passed in $((SECONDS - t0)) s" >"$log.result"
        else
          echo "failed after $((SECONDS - t0)) s" >"$log.result"
        fi
      done
    ) &
    background_pids+=("$!")
  done
}

wait_background_scenarios() {
  local pid scenario log result rc=0
  for pid in "${background_pids[@]}"; do
    wait "$pid" || true
  done
  for scenario in "${background_names[@]}"; do
    log="$logs/molecule-$scenario.log"
    result="$(cat "$log.result" 2>/dev/null || echo "failed: no result")"
    printf '  scenario %s (background) %s\n' "$scenario" "$result"
    [ "$HWG_VERBOSE" != true ] || cat "$log"
    if [[ "$result" == passed* ]]; then
      scenarios_passed=$((scenarios_passed + 1))
    else
      scenarios_failed=$((scenarios_failed + 1))
      [ -f "$log" ] && hwg_show_failure "$log"
      rc=1
    fi
  done
  background_pids=()
  background_names=()
  return "$rc"
}

# A scenario whose image this machine has or can pull runs; one whose image
# cannot be had (no registry here, and EL images cannot be built offline) is
# reported as skipped, with the reason, and does not fail the stage.
stage_molecule() {
  local scenarios image reason foreground=() background=()
  background_pids=() background_names=()
  read -r -a scenarios <<<"${HWG_SCENARIOS:-default debian13 venv uwsgi buffering mode_switch faults cluster keystone el9 el10}"
  local lanes lane members
  read -r -a lanes <<<"${HWG_BACKGROUND_SCENARIOS-faults+cluster keystone+buffering}"
  [ "${#scenarios[@]}" -gt 1 ] || lanes=()
  for lane in "${lanes[@]}"; do
    members=""
    for scenario in ${lane//+/ }; do
      [[ " ${scenarios[*]} " == *" $scenario "* ]] && members="${members:+$members+}$scenario"
    done
    [ -z "$members" ] || background+=("$members")
  done
  local in_background
  in_background="+$(IFS=+; echo "${background[*]}")+"
  for scenario in "${scenarios[@]}"; do
    [[ "$in_background" == *"+$scenario+"* ]] || foreground+=("$scenario")
  done
  [ "${#background[@]}" -eq 0 ] || start_background_scenarios "${background[@]}"
  for scenario in "${foreground[@]}"; do
    image="$(scenario_image "$scenario")"
    if [ -n "$image" ] && ! docker image inspect "$image" >/dev/null 2>&1; then
      if ! reason="$(timeout 600 docker pull -q "$image" 2>&1)"; then
        if [ -n "${HWG_REQUIRE_ALL_SCENARIOS:-}" ]; then
          printf '  scenario %s: image %s cannot be pulled: %s\n' "$scenario" "$image" "$reason"
          scenarios_failed=$((scenarios_failed + 1))
          wait_background_scenarios || true
          return 1
        fi
        printf '  scenario %s skipped: image %s is not on this machine and cannot be pulled (%s)\n' \
          "$scenario" "$image" "${reason##*$'\n'}"
        scenarios_skipped=$((scenarios_skipped + 1))
        continue
      fi
    fi
    if ! hwg_step "$logs/molecule-$scenario.log" "  scenario $scenario" molecule test -s "$scenario"; then
      scenarios_failed=$((scenarios_failed + 1))
      wait_background_scenarios || true
      return 1
    fi
    scenarios_passed=$((scenarios_passed + 1))
  done
  wait_background_scenarios
}

export ANSIBLE_COLLECTIONS_PATH="$PWD/.cache/collections"
export MOLECULE_GLOB="molecule/*/molecule.yml"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
for stage in "${stages[@]}"; do
  if [ "$stage" = molecule ]; then
    # Its scenarios print a line each; the stage itself runs here, not in a
    # subshell, so that it can count them.
    printf 'stage molecule:\n'
    t0=$SECONDS
    if stage_molecule; then
      stages_passed=$((stages_passed + 1))
      printf 'stage molecule passed in %d s\n' "$((SECONDS - t0))"
    else
      stages_failed=$((stages_failed + 1))
      printf 'stage molecule failed after %d s\n' "$((SECONDS - t0))"
      summary
      exit 1
    fi
  elif hwg_step "$logs/$stage.log" "stage $stage" "stage_$stage"; then
    stages_passed=$((stages_passed + 1))
  else
    stages_failed=$((stages_failed + 1))
    summary
    exit 1
  fi
done
summary
