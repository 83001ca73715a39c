#!/usr/bin/env python3
"""Writes docs/bad-input.md from the cases tests/unit/test_bad_input.py runs:
each wrong or conflicting input, the role it is given to, and the message the
play stops with. The unit test fails when the page and the cases disagree.

  scripts/gen_bad_input_doc.py            # rewrite docs/bad-input.md
  scripts/gen_bad_input_doc.py --stdout   # print instead
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from test_bad_input import CASES  # noqa: E402  pylint: disable=wrong-import-position
from bad_input_host import HOST_CASES  # noqa: E402  pylint: disable=wrong-import-position


def render():
    out = ["# Bad input and what it gets", "",
           "Every row is a case `tests/unit/test_bad_input.py` runs: the role is applied with these",
           "variables, and the test requires the play to fail with the message shown, at argument",
           "validation or at one of the role's checks, before any task that could change the host.",
           "This page is generated from those cases by `scripts/gen_bad_input_doc.py`.", "",
           "| Role | Variables | The play stops with a message containing |",
           "| --- | --- | --- |"]
    for role, extra_vars, message in CASES:
        variables = ", ".join("`%s: %s`" % (name, json.dumps(value)) for name, value in extra_vars.items()) or "(none)"
        out.append("| `%s` | %s | %s |" % (role, variables.replace("|", "\\|"), message.replace("|", "\\|")))
    out += ["", "%d cases." % len(CASES), "",
            "## Refused on the host", "",
            "Input only the host can judge: the installed Glance's own option definitions (through",
            "oslo.config), uWSGI's strict parser, the TLS files as the host's OpenSSL loads them. The",
            "`faults` scenario applies each case to a deployed host (`tests/integration/bad_input_host.py`)",
            "and requires the play to fail with the message shown while every file of the deployment",
            "stays as it was and Glance keeps answering.", "",
            "| Variables | The play stops with a message containing |",
            "| --- | --- |"]
    for extra_vars, message in HOST_CASES:
        variables = ", ".join("`%s: %s`" % (name, json.dumps(value)) for name, value in extra_vars.items())
        out.append("| %s | %s |" % (variables.replace("|", "\\|"), message.replace("|", "\\|")))
    out += ["", "%d cases." % len(HOST_CASES), ""]
    return "\n".join(out)


def main():
    text = render()
    if "--stdout" in sys.argv:
        sys.stdout.write(text)
    else:
        (ROOT / "docs" / "bad-input.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
