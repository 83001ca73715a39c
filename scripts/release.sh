#!/usr/bin/env bash
# Releases the changelog for a version: collects changelogs/fragments into
# changelogs/changelog.yaml and CHANGELOG.rst, and sets galaxy.yml's version.
#   scripts/release.sh 0.3.0 && git commit -am "Release 0.3.0" && git tag v0.3.0
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version="${1:?usage: scripts/release.sh X.Y.Z}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "not a version: $version" >&2; exit 2; }
# shellcheck source=scripts/setup-env.sh
. scripts/setup-env.sh
hwg_setup_toolchain
# antsibull-changelog copies the collection to read its plugins, and cannot
# copy the dangling symlinks of the offline EL check's replica of
# /etc/httpd (they point into an image): that tree steps aside meanwhile.
hold="$(mktemp -d)"
trap 'mv "$hold/tree" tests/el/tree; rmdir "$hold"' EXIT
mv tests/el/tree "$hold/tree"
sed -i "s/^version: .*/version: $version/" galaxy.yml
antsibull-changelog release --version "$version"
