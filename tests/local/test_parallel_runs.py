"""`make test` under pytest-xdist (tests/conftest.py): the modules' order, and the
least-privilege report at the end covering every worker.

tests/conftest.py gives each worker the controller's usage file; a stack stopped on any worker
merges into it, and the controller alone writes the report. Checked with a real `pytest -n 2`
over two test files (one per worker) that each record a different grant as used, as a stopped
local stack does (``record_iam_usage``). In a subprocess: the hooks keep per-process state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import conftest

REPO = Path(__file__).resolve().parents[2]
FUNCTION = "UsersFunction"
#: file name -> (Sid, action) that file's "stack" used
USED = {"test_alpha.py": ("CreateUsers", "cognito-idp:AdminCreateUser"),
        "test_beta.py": ("PushEndpoints", "sns:CreatePlatformEndpoint")}

TEST_FILE = '''
import os
from pathlib import Path

from cloudchat_local.iam._usage import USAGE_FILE, merge_usage
from tests.conftest import record_iam_usage


def test_stack(tmp_path):
    merge_usage(tmp_path / USAGE_FILE, {{"{function}": {{"{sid}": {{"{action}": "2026-01-01T00:00:00Z"}}}}}})
    record_iam_usage(tmp_path)
    workers = Path(os.environ["WORKERS_SEEN"])
    (workers / os.environ.get("PYTEST_XDIST_WORKER", "serial")).touch()
'''


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str, set[str]]:
    suite, workers, out = tmp_path / "suite", tmp_path / "workers", tmp_path / "report.txt"
    suite.mkdir()
    workers.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    for name, (sid, action) in USED.items():
        (suite / name).write_text(textwrap.dedent(TEST_FILE.format(function=FUNCTION, sid=sid, action=action)))
    # not this run's PYTEST_* variables (under xdist, PYTEST_XDIST_WORKER names our own worker)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONPATH=str(REPO), WORKERS_SEEN=str(workers))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-q",
         f"--iam-report={out}", *args],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120,
    )
    report = out.read_text() if out.is_file() else ""
    return done, report, {p.name for p in workers.iterdir()}


def _unused(report: str) -> list[str]:
    """The unused grants the report lists for FUNCTION."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{FUNCTION}:"))
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


@pytest.mark.parametrize("args", [("-n", "2", "--dist", "loadfile"), ("-p", "no:xdist")],
                         ids=["xdist-2-workers", "serial"])
def test_report_merges_every_worker(tmp_path: Path, args: tuple[str, ...]) -> None:
    done, report, workers = _run(tmp_path, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert workers == ({"gw0", "gw1"} if "-n" in args else {"serial"}), workers
    unused = _unused(report)
    for sid, action in USED.values():
        assert f"{sid}: {action}" not in unused, report
    assert "Table: dynamodb:GetItem" in unused, report  # nobody used it: still listed
    assert f"{FUNCTION}: {len(unused)} of {len(unused) + len(USED)} grant(s) unused" in report
    # printed once, by the controller (workers write nothing to the terminal)
    assert done.stdout.count("least privilege, measured by this run") == 1, done.stdout
    assert str(tmp_path / "report.txt") in done.stdout


class _Item:
    """What the ordering hook reads of a pytest item: its file and its markers."""

    def __init__(self, path: str, *marks: str) -> None:
        self.path, self.marks = Path(path), set(marks)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.marks else None


class _Config:
    def __init__(self, worker: bool) -> None:
        if worker:
            self.workerinput = {"workerid": "gw0"}


def _ordered(items: list[_Item], worker: bool) -> list[str]:
    conftest.pytest_collection_modifyitems(_Config(worker), items)  # type: ignore[arg-type]
    return [f"{item.path.name}:{sorted(item.marks)}" for item in items]


def test_workers_take_e2e_modules_then_slow_ones_first() -> None:
    items = [_Item("a.py"), _Item("b.py", "slow"), _Item("b.py"), _Item("c.py"),
             _Item("d.py", "e2e"), _Item("d.py", "e2e"), _Item("e.py")]
    assert _ordered(items, worker=True) == [
        "d.py:['e2e']", "d.py:['e2e']",      # local stacks, browsers
        "b.py:['slow']", "b.py:[]",          # a module with one slow test goes whole
        "a.py:[]", "c.py:[]", "e.py:[]",     # the rest, in their order
    ]


def test_a_serial_run_keeps_the_collected_order() -> None:
    items = [_Item("a.py"), _Item("b.py", "slow"), _Item("d.py", "e2e")]
    assert _ordered(items, worker=False) == ["a.py:[]", "b.py:['slow']", "d.py:['e2e']"]
