"""Puts the repository on sys.path and prints the upload figures at the end."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.integration.upload_checks import print_report  # noqa: E402  pylint: disable=wrong-import-position


def pytest_terminal_summary(terminalreporter):
    print_report(terminalreporter)
