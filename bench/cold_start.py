"""Cold start: importing each resolver module vs `import boto3` alone, in fresh processes.

Lays the code out as Lambda does (the layer's `cloudchat` package on one path, the
function's modules as top-level modules on another), with our own modules precompiled the
way `make build` does it (compileall, unchecked-hash: Lambda's filesystem is read-only and
zip timestamps are not trusted), and also without bytecode for comparison. Prints JSON.
Target (DESIGN.md): each resolver import at most 1.3x `import boto3`.

    .venv/bin/python -m bench.cold_start [--runs 15] [--package-size]
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
from bench.harness import argument_parser, emit, load_average

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
PROBE = "import time; t = time.perf_counter(); import boto3, {module}; print(time.perf_counter() - t)"
BASE = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"


def layout(tmp: Path, precompiled: bool) -> tuple[Path, Path]:
    layer, task = tmp / "opt" / "python", tmp / "task"
    shutil.copytree(ROOT / "layers" / "shared" / "cloudchat", layer / "cloudchat")
    task.mkdir(parents=True)
    for module in MODULES:
        shutil.copy(ROOT / "resolvers" / f"{module}.py", task)
    if precompiled:
        for path in (layer, task):
            compileall.compile_dir(path, quiet=1, invalidation_mode=UNCHECKED)
    return layer, task


def timed(module: str, paths: list[Path], runs: int) -> dict[str, float]:
    # -S: no .pth processing, like Lambda (the dev venv's editable-install finder would add
    # 10-15 ms to every import of our package); site-packages goes on the path explicitly.
    paths = [*paths, Path(sysconfig.get_paths()["purelib"])]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
           **LAMBDA_ENV, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONDONTWRITEBYTECODE": "1"}
    samples = []
    for _ in range(runs):
        code = BASE if module == "boto3" else PROBE.format(module=module)
        out = subprocess.run([sys.executable, "-S", "-c", code], env=env,
                             capture_output=True, text=True, check=True, cwd=paths[0])
        samples.append(float(out.stdout.strip()) * 1000)
    return {"median_ms": round(statistics.median(samples), 1), "min_ms": round(min(samples), 1)}


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
    shutil.copytree(ROOT / "layers" / "shared" / "cloudchat", target / "cloudchat")
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
    parser.add_argument("--package-size", action="store_true", help="also build the arm64 layer (needs PyPI)")
    args = parser.parse_args()
    result: dict[str, object] = {
        "python": platform.python_version(), "machine": platform.machine(), "cores": os.cpu_count(),
        "load_average": load_average(),
        "runs": args.runs, "target_ratio": 1.3,
    }
    for variant, precompiled in (("precompiled", True), ("source_only", False)):
        with tempfile.TemporaryDirectory() as d:
            layer, task = layout(Path(d), precompiled)
            base = timed("boto3", [task, layer], args.runs)
            modules = {}
            for module in MODULES:
                t = timed(module, [task, layer], args.runs)
                t["ratio"] = round(t["median_ms"] / base["median_ms"], 2)
                # min of N: the least noise-sensitive figure on a shared machine
                t["ratio_of_mins"] = round(t["min_ms"] / base["min_ms"], 2)
                modules[module] = t
            result[variant] = {"boto3": base, "modules": modules,
                               "worst_ratio": max(m["ratio"] for m in modules.values()),
                               "worst_resolver_ratio": max(modules[m]["ratio"] for m in RESOLVERS),
                               "worst_ratio_of_mins": max(m["ratio_of_mins"] for m in modules.values())}
    if args.package_size:
        with tempfile.TemporaryDirectory() as d:
            result["package"] = package_sizes(Path(d))
    emit(result)


if __name__ == "__main__":
    main()
