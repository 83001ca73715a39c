"""Puts the repository on sys.path and prints the upload figures and the
per-mode import table at the end."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.integration.upload_checks import print_report  # noqa: E402  pylint: disable=wrong-import-position


def pytest_terminal_summary(terminalreporter):
    print_report(terminalreporter)
    module = sys.modules.get("test_modes")
    lines = module.mode_table() if module else []
    if lines:
        terminalreporter.section("interoperable image import per mode")
        for line in lines:
            terminalreporter.write_line(line)
