"""Role metadata stays consistent: argument specs match the defaults, every
option is typed and described, every template carries the managed header,
and docs/variables.md is what scripts/gen_variables_doc.py makes of it all."""

import subprocess
import sys

import pytest

from conftest import ROLES, ROOT, load_yaml


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_matches_defaults(role):
    defaults = load_yaml(ROOT / "roles" / role / "defaults" / "main.yml")
    options = load_yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) <= set(options), "defaults name variables the argument spec does not"
    # A variable the defaults leave out has no default at all: the caller
    # must set it (apache_proxy_site_name, apache_proxy_listen_port).
    for name in set(options) - set(defaults):
        assert "default" not in options[name], "%s has a spec default but none in defaults/main.yml" % name
    options = {name: spec for name, spec in options.items() if name in defaults}
    for name, spec in options.items():
        assert name.startswith(role + "_"), name
        assert spec.get("type"), "%s has no type" % name
        assert spec.get("description"), "%s has no description" % name
        if "default" in spec:
            assert spec["default"] == defaults[name], name
        else:
            # Only values filled in from vars/ (per OS, or computed) go without a spec default.
            assert str(defaults[name]).startswith("{{ __%s_" % role), name


@pytest.mark.parametrize("role", ROLES)
def test_internal_vars_have_double_underscore_prefix(role):
    for path in (ROOT / "roles" / role / "vars").glob("*.yml"):
        for name in load_yaml(path) or {}:
            assert name.startswith("__%s_" % role), "%s in %s" % (name, path.name)


@pytest.mark.parametrize("template", sorted((ROOT / "roles").glob("*/templates/*.j2")),
                         ids=lambda p: "%s/%s" % (p.parts[-3], p.name))
def test_templates_start_with_managed_header(template):
    first = template.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("{{ ansible_managed | comment"), first


def test_variables_reference_is_current():
    generated = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_variables_doc.py"), "--stdout"],
                               capture_output=True, text=True, check=True).stdout
    on_disk = (ROOT / "docs" / "variables.md").read_text(encoding="utf-8")
    assert on_disk == generated, "docs/variables.md is stale: run scripts/gen_variables_doc.py"


def test_bad_input_page_is_current():
    generated = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_bad_input_doc.py"), "--stdout"],
                               capture_output=True, text=True, check=True).stdout
    on_disk = (ROOT / "docs" / "bad-input.md").read_text(encoding="utf-8")
    assert on_disk == generated, "docs/bad-input.md is stale: run scripts/gen_bad_input_doc.py"


PATH_SUFFIXES = ("_dir", "_socket", "_certificate", "_key", "_chain", "_home", "_scripts", "_writable_paths",
                 "_virtualenv", "_config_file")
PATH_NAMES = ("glance_wsgi_python", "glance_wsgi_venv_python")


def _checked(role):
    variables = load_yaml(ROOT / "roles" / role / "vars" / "main.yml")
    return tuple(set(variables["__%s_checked_%s" % (role, kind)]) for kind in ("numbers", "paths", "urls"))


@pytest.mark.parametrize("role", ROLES)
def test_every_number_path_and_url_is_checked(role):
    """The class, not the examples: every int option of the argument spec is
    in the role's bounds table, every option that names a path is in its
    path table, every URL option in its URL table."""
    options = load_yaml(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    numbers, paths, urls = _checked(role)
    for name, spec in options.items():
        if spec["type"] in ("int", "float"):
            assert name in numbers, "%s is a number without bounds" % name
        if spec["type"] == "path" or name.endswith(PATH_SUFFIXES) or name in PATH_NAMES:
            assert name in paths, "%s is a path that is not checked" % name
        if name.endswith(("_url", "_uri")) and name != "apache_proxy_backend_url":
            assert name in urls, "%s is a URL whose scheme is not checked" % name
    assert (numbers | paths | urls) <= set(options), "a table names an option the role does not have"
