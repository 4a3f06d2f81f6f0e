"""Least privilege, measured: which granted actions were ever used.

Every allowed decision records ``(function, statement Sid, action)``. The first time a
triple is seen it is merged into ``<state-dir>/iam-usage.json`` at once (under a file lock,
so the moto server and the emulator can share the file, and nothing is lost when a process
is killed). :func:`unused_grants` compares a template's grants with that record: a grant
(``kms:GenerateDataKey*`` included) counts as used when any recorded action of that function
and statement matches it.

File format::

    {"version": 1, "functions": {"<LogicalId>": {"<Sid>": {"<action>": "<first use, UTC>"}}}}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from ._conditions import glob_match

__all__ = ["USAGE_FILE", "UsageRecorder", "load_usage", "merge_usage", "unused_grants"]

USAGE_FILE: Final = "iam-usage.json"
Usage = dict[str, dict[str, dict[str, str]]]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_usage(path: Path) -> Usage:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    functions = document.get("functions") if isinstance(document, dict) else None
    return functions if isinstance(functions, dict) else {}


def merge_usage(path: Path, new: Mapping[str, Mapping[str, Mapping[str, str]]]) -> None:
    """Adds ``new`` to the file (keeping each triple's first use)."""
    with _locked(path):
        usage = load_usage(path)
        for function, statements in new.items():
            for sid, actions in statements.items():
                known = usage.setdefault(function, {}).setdefault(sid, {})
                for action, when in actions.items():
                    known.setdefault(action, when)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": 1, "functions": usage}, indent=1, sort_keys=True),
                       encoding="utf-8")
        os.replace(tmp, path)


class UsageRecorder:
    """Thread-safe record of allowed decisions, written through to ``path`` when new."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: Usage = {}
        self._lock = threading.Lock()

    def record(self, function: str, sid: str, action: str) -> None:
        statements = self._seen.get(function)
        if statements is not None and action in statements.get(sid, {}):
            return
        with self._lock:
            actions = self._seen.setdefault(function, {}).setdefault(sid, {})
            if action in actions:
                return
            when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            actions[action] = when
            if self.path is not None:
                merge_usage(self.path, {function: {sid: {action: when}}})

    def snapshot(self) -> Usage:
        with self._lock:
            return json.loads(json.dumps(self._seen))


def _actions(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(item) for item in items if isinstance(item, str)]


def granted_actions(template: Any) -> dict[str, list[tuple[str, str]]]:
    """Each function's Allow grants as ``(Sid, action pattern)``, read from template.yaml
    (no intrinsic needs resolving: only Sid and Action are read)."""
    from cloudchat_local.template import SERVERLESS_FUNCTION

    out: dict[str, list[tuple[str, str]]] = {}
    for resource in template.resources(SERVERLESS_FUNCTION):
        grants: list[tuple[str, str]] = []
        index = 0
        policies = resource.properties.get("Policies") or []
        for document in policies if isinstance(policies, list) else [policies]:
            if not isinstance(document, Mapping) or "Statement" not in document:
                continue
            raw = document["Statement"]
            for statement in raw if isinstance(raw, list) else [raw]:
                sid = str(statement.get("Sid") or f"#{index}")
                index += 1
                if statement.get("Effect") != "Allow":
                    continue
                if "NotAction" in statement:
                    grants.append((sid, "NotAction:" + ",".join(_actions(statement["NotAction"]))))
                for action in _actions(statement.get("Action")):
                    grants.append((sid, action))
        out[resource.logical_id] = grants
    return out


def unused_grants(template: Any, usage: Mapping[str, Mapping[str, Mapping[str, str]]]
                  ) -> dict[str, list[tuple[str, str]]]:
    """Per function, the ``(Sid, action pattern)`` grants no recorded call used."""
    unused: dict[str, list[tuple[str, str]]] = {}
    for function, grants in granted_actions(template).items():
        statements = usage.get(function, {})
        missing = []
        for sid, pattern in grants:
            used = statements.get(sid, {})
            if not any(glob_match(pattern, action, ignore_case=True) for action in used):
                missing.append((sid, pattern))
        unused[function] = missing
    return unused
