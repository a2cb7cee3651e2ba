"""Airtable's own Node client (npm ``airtable``), installed once per session and run on a script of calls."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from airtable_sandbox.demo import DEMO_BASE_ID

AIRTABLE_JS = "airtable@0.12.2"
SCRIPT = Path(__file__).parent / "js" / "client.js"  # reads and writes, one call after another


def install_airtable_js(where: Path) -> Path:
    """``node_modules`` holding airtable.js; skips (saying why) where Node or the npm package cannot be had."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed")
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(where), AIRTABLE_JS],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install {AIRTABLE_JS}: {installed.stderr[-300:]}")
    return where / "node_modules"


def run_airtable_js(node_modules: Path, endpoint: str, token: str, calls: list[dict]) -> list[dict]:
    """airtable.js makes ``calls`` against ``endpoint``; its answers, one per call (records, or status and error)."""
    request = {"endpointUrl": endpoint, "apiKey": token, "baseId": DEMO_BASE_ID, "calls": calls}
    done = subprocess.run(
        ["node", str(SCRIPT), json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    return json.loads(done.stdout)
