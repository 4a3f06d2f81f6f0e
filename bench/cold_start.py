"""Cold start: importing each resolver module vs `import boto3` alone, in fresh processes.

Lays the code out as Lambda does (the layer's `cloudchat` package on one path, the
function's modules as top-level modules on another), with our own modules precompiled the
way `make build` does it (compileall, unchecked-hash: Lambda's filesystem is read-only and
zip timestamps are not trusted), and also without bytecode for comparison. Prints JSON.
Target (DESIGN.md): each resolver import at most 1.3x `import boto3`.

Each process reports its wall time and its CPU time (``time.process_time``) for the imports:
on a shared machine the CPU time is the steadier figure (a process waiting for a core counts
in the wall time only). ``--baseline REV`` also lays out the code of that git revision and
times it interleaved with the working tree's (the same boto3 processes, one run of each in
turn), so a before/after comparison sees the same load. ``--python`` times another
interpreter (e.g. a python3.12 venv with boto3 and the layer's requirements, the version
Lambda runs), which then also compiles the bytecode.

    .venv/bin/python -m bench.cold_start [--runs 15] [--baseline f441c1a] [--python PATH]
                                         [--package-size]
"""

from __future__ import annotations

import compileall
import os
import platform
import py_compile
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

from bench.harness import REPO as ROOT
from bench.harness import argument_parser, commit, emit, load_average, machine_info

UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH
MODULES = ["users", "conversations", "messages", "receipts", "stream", "cognito"]
RESOLVERS = ["users", "conversations", "messages", "receipts"]  # AppSync-facing
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "cold-start-bench", "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "cloudchat",
    "POWERTOOLS_METRICS_NAMESPACE": "CloudChat", "LAMBDA_TASK_ROOT": "/var/task",
}
# A resolver imports boto3 lazily (on its first AWS call), so the fair comparison is
# "boto3 + the module" against boto3 alone: the ratio is the whole cold import cost.
PROBE = ("import time; t, c = time.perf_counter(), time.process_time(); import boto3{extra}; "
         "print(time.perf_counter() - t, time.process_time() - c)")


def layout(tmp: Path, precompiled: bool, root: Path = ROOT,
           python: str = sys.executable) -> tuple[Path, Path]:
    layer, task = tmp / "opt" / "python", tmp / "task"
    # without the tree's own __pycache__ (a dev tree has timestamp-checked bytecode from test
    # runs, which made the "source_only" figures of a working tree precompiled ones)
    shutil.copytree(root / "layers" / "shared" / "cloudchat", layer / "cloudchat",
                    ignore=shutil.ignore_patterns("__pycache__"))
    task.mkdir(parents=True)
    for module in MODULES:
        shutil.copy(root / "resolvers" / f"{module}.py", task)
    if precompiled:
        for path in (layer, task):
            if python == sys.executable:
                compileall.compile_dir(path, quiet=1, invalidation_mode=UNCHECKED)
            else:  # the interpreter timed compiles (its own bytecode version)
                subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode",
                                "unchecked-hash", str(path)], check=True)
    return layer, task


def checkout(rev: str, tmp: Path) -> Path:
    """The shipped code (layer package and resolvers) of a git revision, extracted under tmp."""
    archive = subprocess.run(["git", "archive", rev, "layers/shared/cloudchat", "resolvers"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    tmp.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    return tmp


def site_packages(python: str) -> Path:
    if python == sys.executable:
        return Path(sysconfig.get_paths()["purelib"])
    return Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())


def sample(python: str, module: str | None, paths: list[Path]) -> tuple[float, float]:
    """One fresh process: (wall ms, CPU ms) of ``import boto3`` (and the module)."""
    # -S: no .pth processing, like Lambda (the dev venv's editable-install finder would add
    # 10-15 ms to every import of our package); site-packages goes on the path explicitly.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
           **LAMBDA_ENV, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONDONTWRITEBYTECODE": "1"}
    code = PROBE.format(extra=f", {module}" if module else "")
    out = subprocess.run([python, "-S", "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=paths[0])
    wall, cpu = out.stdout.split()
    return float(wall) * 1000, float(cpu) * 1000


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return {"median_ms": round(statistics.median(walls), 1), "min_ms": round(min(walls), 1),
            "cpu_median_ms": round(statistics.median(cpus), 1)}


def ratios(t: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    # min of N: the least noise-sensitive wall figure on a shared machine; CPU: no waiting
    return {**t, "ratio": round(t["median_ms"] / base["median_ms"], 2),
            "ratio_of_mins": round(t["min_ms"] / base["min_ms"], 2),
            "cpu_ratio": round(t["cpu_median_ms"] / base["cpu_median_ms"], 2)}


def measure(trees: dict[str, Path], precompiled: bool, runs: int, python: str,
            tmp: Path) -> dict[str, object]:
    """Every tree's modules and boto3 alone, one process of each in turn, ``runs`` times."""
    purelib = site_packages(python)
    paths = {}
    for name, root in trees.items():
        layer, task = layout(tmp / name, precompiled, root, python)
        paths[name] = [task, layer, purelib]
    first = next(iter(paths.values()))
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(runs):
        samples.setdefault(("", "boto3"), []).append(sample(python, None, first))
        for module in MODULES:
            for name, p in paths.items():
                samples.setdefault((name, module), []).append(sample(python, module, p))
    base = summary(samples[("", "boto3")])
    out: dict[str, object] = {"boto3": base}
    for name in trees:
        modules = {m: ratios(summary(samples[(name, m)]), base) for m in MODULES}
        figures = {"modules": modules,
                   "worst_ratio": max(m["ratio"] for m in modules.values()),
                   "worst_resolver_ratio": max(modules[m]["ratio"] for m in RESOLVERS),
                   "worst_ratio_of_mins": max(m["ratio_of_mins"] for m in modules.values()),
                   "worst_cpu_ratio": max(m["cpu_ratio"] for m in modules.values())}
        if name == "current":  # the working tree's figures where they always were
            out.update(figures)
        else:
            out[name] = figures
    return out


def package_sizes(tmp: Path) -> dict[str, int]:
    """Function code zip, and the layer zip built for arm64 / python3.12 from PyPI wheels."""
    code = tmp / "code.zip"
    with zipfile.ZipFile(code, "w", zipfile.ZIP_DEFLATED) as z:
        for module in MODULES:
            z.write(ROOT / "resolvers" / f"{module}.py", f"{module}.py")
    target = tmp / "layer" / "python"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
                    "--platform", "manylinux2014_aarch64", "--python-version", "3.12",
                    "--only-binary=:all:", "-r", str(ROOT / "layers" / "shared" / "requirements.txt")],
                   check=True)
    shutil.copytree(ROOT / "layers" / "shared" / "cloudchat", target / "cloudchat",
                    ignore=shutil.ignore_patterns("__pycache__"))
    layer_zip = tmp / "layer.zip"
    with zipfile.ZipFile(layer_zip, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(target.parent.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(target.parent))
    unzipped = sum(f.stat().st_size for f in target.parent.rglob("*") if f.is_file())
    return {"function_zip_bytes": code.stat().st_size, "layer_zip_bytes": layer_zip.stat().st_size,
            "layer_unzipped_bytes": unzipped}


def main() -> None:
    parser = argument_parser("bench.cold_start", __doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", metavar="REV", help="also time this git revision, interleaved")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to time")
    parser.add_argument("--package-size", action="store_true", help="also build the arm64 layer (needs PyPI)")
    args = parser.parse_args()
    version = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    result: dict[str, object] = {
        "python": version, "machine": platform.machine(), "cores": os.cpu_count(),
        "cpu_model": machine_info()["cpu_model"], "commit": commit(), "baseline": args.baseline,
        "load_average": load_average(),
        "runs": args.runs, "target_ratio": 1.3,
    }
    for variant, precompiled in (("precompiled", True), ("source_only", False)):
        with tempfile.TemporaryDirectory() as d:
            trees = {"current": ROOT}
            if args.baseline:
                trees["baseline"] = checkout(args.baseline, Path(d) / "baseline-tree")
            result[variant] = measure(trees, precompiled, args.runs, args.python, Path(d))
    result["load_average_after"] = load_average()
    if args.package_size:
        with tempfile.TemporaryDirectory() as d:
            result["package"] = package_sizes(Path(d))
    emit(result)


if __name__ == "__main__":
    main()
