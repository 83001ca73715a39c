"""The one conftest of every scenario's testinfra tests: puts the repository
on sys.path (for tests.integration) and, at the end of a run, prints the
upload figures and any report a test module offers through a
``terminal_report(terminalreporter)`` function."""

import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from tests.integration.upload_checks import print_report  # noqa: E402  pylint: disable=wrong-import-position


def pytest_terminal_summary(terminalreporter):
    print_report(terminalreporter)
    scenarios = REPOSITORY / "molecule"
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        report = getattr(module, "terminal_report", None)
        if callable(report) and Path(path).resolve().is_relative_to(scenarios):
            report(terminalreporter)
