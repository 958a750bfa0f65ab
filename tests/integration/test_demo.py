"""`scripts/demo --check`: every printed client command logs in, and a process about to exit
does not tell the user to press Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.ports import free_port

pytestmark = pytest.mark.integration


def test_demo_check_logs_in_every_way_and_exits() -> None:
    # A port of its own: the default 3307 is taken when found free, and another demo (a
    # test on a shared machine, a user's) may take it between that look and the bind
    demo = [sys.executable, "-m", "sandbox.demo", "--check", "--port", str(free_port())]
    done = subprocess.run(demo, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Press Ctrl-C" not in done.stdout
    assert "Logging in once each way, then stopping and removing everything" in done.stdout
    results = [line for line in done.stdout.splitlines() if line.startswith(("ok  ", "FAIL"))]
    assert len(results) >= 8 and all(line.startswith("ok  ") for line in results), done.stdout
    assert "-m bridge sessions -c " in done.stdout  # the admin interface is on in the demo
    oidc = [line for line in results if "OpenID Connect" in line]
    assert len(oidc) == 2 and all(line.endswith("oidcuser@%") for line in oidc), done.stdout
    # How to get a fresh token, from any directory (the demo ran it from / for its check).
    root = Path(__file__).resolve().parent.parent.parent
    assert (
        f"env PYTHONPATH={root} {sys.executable} -m sandbox.oidc https://127.0.0.1:" in done.stdout
    )
