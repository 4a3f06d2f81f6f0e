"""Every benchmark is a module run as ``python -m bench.<name>`` with ``--help``, and the package
keeps its shape: no ``sys.path`` tricks, no benchmark reaching into another's private modules,
every module readable in one sitting."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
#: benchmark -> an option its --help must list
BENCHMARKS = {
    "realtime": "--modes",
    "soak": "--storms",
    "cost": "--markdown",
    "cold_start": "--package-size",
    "publish": "--delays",
    "handler": "--profile",
    "scale": "--sizes",
    "search": "--sizes",
}


def test_every_benchmark_is_listed() -> None:
    found = {p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    found |= {p.parent.name for p in BENCH.glob("*/__main__.py")}
    assert found == set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_help_runs(name: str) -> None:
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: python -m bench.{name} ")
    assert BENCHMARKS[name] in done.stdout


@pytest.mark.parametrize("name", ["realtime", "soak"])
def test_bad_arguments_are_refused(name: str) -> None:
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", "--subscribers" if name == "realtime"
                           else "--users", "0"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "must be" in done.stderr


def _modules() -> list[Path]:
    """bench's Python files (not bench/.scratch: the simulator's npm tree, gitignored)."""
    return sorted(p for p in BENCH.rglob("*.py") if ".scratch" not in p.relative_to(BENCH).parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """(module, level) of every ``import`` / ``from ... import`` in the file, with the names
    imported from a module as ``module.name``."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out += [(f"{node.module or ''}.{alias.name}".strip("."), node.level) for alias in node.names]
    return out


def test_no_sys_path_manipulation() -> None:
    offenders = [str(p.relative_to(REPO)) for p in _modules() if "sys.path" in p.read_text()]
    assert offenders == []


def test_benchmarks_import_only_the_harness_of_each_other() -> None:
    """Absolute imports of ``bench.*`` go to ``bench.harness`` (public names) or to the module's
    own benchmark; a package's relative imports stay inside it."""
    wrong = []
    neighbours = {p.name.removesuffix(".py") for p in BENCH.iterdir()} | {
        p.name.removesuffix(".py") for p in BENCH.glob("*/*")}
    for path in _modules():
        parts = path.relative_to(BENCH).parts
        own = parts[0].removesuffix(".py")
        for module, level in _imports(path):
            if level > 1:
                wrong.append(f"{path}: {'.' * level}{module}")
            if not level and module.split(".")[0] in neighbours:
                wrong.append(f"{path}: {module} (a neighbour through sys.path)")
            if level or not module.startswith("bench."):
                continue
            target = module.split(".")
            if target[1] == "harness":
                if own != "harness" and any(p.startswith("_") for p in target[2:]):
                    wrong.append(f"{path}: {module} (private to the harness)")
            elif target[1] != own:
                wrong.append(f"{path}: {module} (another benchmark)")
    assert wrong == []


def test_modules_are_readable_in_one_sitting() -> None:
    long = {str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
