"""``make deadcode``: vulture over the packages and the benchmarks, with the tests as users.

Vulture (a tool, run, never imported) reports functions, classes, methods, attributes and
variables that nothing reads. It reads the tests too, so code that only a test uses is not
reported, but it does not report the tests themselves: pytest and hypothesis call fixtures,
hooks and rules by name, and a fixture requested for its side effect is an "unused" argument.

What looks unused but is not (a framework's hooks, the Lambda context contract, the public API
of ``cloudchat_client``) is named in ``tests/vulture_whitelist.py``, each with its reason. The
resolvers are registered by their decorator (``@app.resolver``) and never called by name.
``MIN_CONFIDENCE`` is vulture's lowest, 60: unused attributes, methods and functions are only
ever reported at 60 %, so a higher threshold would check little beyond what ruff does.

``python -m tests.deadcode`` prints the findings and exits 1 if there are any.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what is checked
PACKAGES = ("layers/shared/cloudchat", "resolvers", "local/cloudchat_local", "clients", "bench")
#: what counts as a user of the packages, without being checked itself
USERS = ("tests",)
WHITELIST = "tests/vulture_whitelist.py"
MIN_CONFIDENCE = 60
IGNORE_DECORATORS = ("@app.resolver",)
#: (not the simulator's npm tree in bench/.scratch, which has Python files in it)
EXCLUDE = ("*/.scratch/*", "*/node_modules/*")
#: vulture's exit codes: 0 nothing found, 3 something found (1 and 2: bad input or arguments)
_CLEAN, _FOUND = 0, 3


def findings(root: Path = ROOT, packages: Sequence[str] = PACKAGES,
             users: Sequence[str] = USERS, whitelist: str = WHITELIST) -> list[str]:
    """Vulture's report lines (``path:line: unused ... (60% confidence)``) for ``packages``."""
    command = [sys.executable, "-m", "vulture", *packages, *users, whitelist,
               "--min-confidence", str(MIN_CONFIDENCE),
               "--ignore-decorators", ",".join(IGNORE_DECORATORS),
               "--exclude", ",".join(EXCLUDE)]
    run = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if run.returncode not in (_CLEAN, _FOUND):
        raise RuntimeError(f"vulture failed ({run.returncode}): {run.stderr.strip() or run.stdout.strip()}")
    unchecked = (*(f"{Path(user).as_posix()}/" for user in users), f"{Path(whitelist).as_posix()}:")
    return [line for line in run.stdout.splitlines()
            if line.strip() and not line.startswith(unchecked)]


def main() -> int:
    found = findings()
    for line in found:
        print(line)
    if found:
        print(f"\n{len(found)} unused: remove it, or (if something calls it by name that vulture "
              f"cannot see) name it in {WHITELIST} with the reason.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
