"""Runs appsync/*.js resolver code in Node against a stub ``@aws-appsync/utils``, so tests can
check that the emulator applies the same rules as the JS AppSync runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

NODE = shutil.which("node") or "/usr/bin/node"


def run_appsync_js(work: Path, *, stub: str, modules: Mapping[str, Path], runner: str,
                   payload: Any) -> Any:
    """Writes ``stub`` as ``@aws-appsync/utils``, each of ``modules`` as ``<name>.mjs`` and
    ``runner`` as ``runner.mjs`` in ``work``; runs the runner with ``payload`` as JSON on
    stdin and returns the JSON it prints. Skips the test when Node is not installed."""
    if not Path(NODE).exists():
        pytest.skip("node is not installed")
    utils = work / "node_modules" / "@aws-appsync" / "utils"
    utils.mkdir(parents=True)
    (utils / "package.json").write_text(
        json.dumps({"name": "@aws-appsync/utils", "type": "module", "exports": "./index.js"}))
    (utils / "index.js").write_text(stub)
    (work / "package.json").write_text(json.dumps({"type": "module"}))
    for name, source in modules.items():
        (work / f"{name}.mjs").write_text(source.read_text())
    (work / "runner.mjs").write_text(runner)
    done = subprocess.run([NODE, "runner.mjs"], input=json.dumps(payload), capture_output=True,
                          text=True, cwd=work, timeout=30, check=True)
    return json.loads(done.stdout)
