"""The uwsgi_service helper's unit check (the template's validate command)
against the real systemd-analyze: a misspelled hardening key, which systemd
only logs and ignores, fails; a good unit passes."""

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

HELPER = ROOT / "roles" / "uwsgi_service" / "files" / "uwsgi-service-ctl"
UNIT = """[Unit]
Description=check

[Service]
Type=notify
ExecStart=/bin/true
NoNewPrivileges=yes
{extra}
ProtectSystem=strict

[Install]
WantedBy=multi-user.target
"""

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


@pytest.mark.parametrize("extra, ok", [
    ("ProtectKernelTunables=yes", True),
    ("ProtectKernelTunable=yes", False),
    ("PrivateMounts=maybe", False),
    ("[Servic]\nFoo=1", False),
])
def test_verify_unit(tmp_path, extra, ok):
    unit = tmp_path / "candidate"
    unit.write_text(UNIT.format(extra=extra))
    run = subprocess.run([sys.executable, str(HELPER), "verify-unit", "app-uwsgi", str(unit)],
                         capture_output=True, text=True, check=False)
    assert (run.returncode == 0) == ok, run.stdout + run.stderr
    if not ok:
        assert "systemd-analyze verify refused the unit" in run.stderr
