#!/usr/bin/env bash
# Runs `ansible-test sanity` on a copy of the collection laid out as
# ansible_collections/httpd_wsgi/glance (ansible-test refuses a symlinked
# tree), in ansible-test's own virtualenv for Python 3.11.
#
# ansible-test bootstraps pip in that virtualenv with a "get-pip" script it
# downloads from ci-files.testing.ansible.com; where only PyPI is reachable,
# this script provides a stand-in that runs pip from the pip wheel on PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HWG_VENV="${HWG_VENV:-$PWD/.venv}"
PYTHON_VERSION="${HWG_SANITY_PYTHON:-3.11}"

pip_version="$("$HWG_VENV/bin/python" - <<'PY'
import re, pathlib, ansible_test
text = (pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)"
cache="$HOME/.ansible/test/cache"
shim="$cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$shim" ]; then
  mkdir -p "$cache"
  "$HWG_VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$cache" "pip==$pip_version"
  cat >"$shim" <<PY
# Stand-in for get-pip.py: installs pip with pip itself, run from its wheel.
import os, runpy, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pip-$pip_version-py3-none-any.whl"))
sys.argv = ["pip", "install"] + [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tree="$work/ansible_collections/httpd_wsgi/glance"
mkdir -p "$tree"
# What ships: the files galaxy.yml's build_ignore keeps out are left out here too
# (tests/el holds a replica of EL's /etc/httpd, symlinks into a check image).
git ls-files -z --cached --others --exclude-standard \
  | grep -zv -E '^(scripts/|\.ci/|\.config/|\.github/|tests/el/|requirements-dev\.txt$)' \
  | tar --null -T - -cf - | tar -C "$tree" -xf -
cd "$tree"
"$HWG_VENV/bin/ansible-test" sanity --venv --python "$PYTHON_VERSION" --color no "$@"
