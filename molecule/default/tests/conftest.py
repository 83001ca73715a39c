"""Prints the upload figures of the scenario at the end of the run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.integration.upload_checks import REPORT  # noqa: E402  pylint: disable=wrong-import-position


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    terminalreporter.section("uploads measured")
    for line in REPORT:
        terminalreporter.write_line(
            "%-28s %-15s chunk=%-8s expect=%-5s %6.1f MiB in %7.3f s = %7.1f MiB/s  md5=%s  match=%s"
            % (line["check"], line["transfer"], line["chunk_size"], line["expect_continue"],
               line["bytes"] / 1048576.0, line["seconds"], line["mib_per_s"], line["md5"],
               line["checksums_match"]))
