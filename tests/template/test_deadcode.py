"""``make deadcode`` (tests/deadcode.py): vulture over the packages, the tests as users, and a
whitelist that names only what exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests import deadcode

ROOT = Path(__file__).resolve().parents[2]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _findings(root: Path) -> list[str]:
    return deadcode.findings(root, packages=("pkg",), users=("tests",), whitelist="tests/whitelist.py")


PACKAGE = '''\
class Thing:
    def __init__(self) -> None:
        self.read = 1
        self.never_read = 2

    def called(self) -> int:
        return self.read

    def never_called(self) -> None:
        pass


def helper_for_tests() -> None:
    pass


@app.resolver(type_name="Query", field_name="me")
def me() -> None:
    pass
'''
USERS = '''\
from pkg.mod import Thing, helper_for_tests


def test_thing() -> None:
    Thing().called()
    helper_for_tests()


def unused_in_the_tests() -> None:
    pass
'''


def test_the_repository_has_no_dead_code() -> None:
    assert deadcode.findings() == []


def test_unused_methods_and_attributes_of_a_package_are_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"pkg/mod.py": PACKAGE, "tests/test_mod.py": USERS, "tests/whitelist.py": ""})
    found = _findings(root)
    assert [re.sub(r":\d+:", ":", line) for line in found] == [
        "pkg/mod.py: unused attribute 'never_read' (60% confidence)",
        "pkg/mod.py: unused method 'never_called' (60% confidence)",
    ]


def test_a_whitelisted_name_is_not_reported(tmp_path: Path) -> None:
    whitelist = "from types import SimpleNamespace\n_ = SimpleNamespace()\n_.never_called  # a hook\n"
    root = _tree(tmp_path, {"pkg/mod.py": PACKAGE, "tests/test_mod.py": USERS,
                            "tests/whitelist.py": whitelist})
    assert [line for line in _findings(root) if "never_called" in line] == []
    assert any("never_read" in line for line in _findings(root))


def test_without_the_tests_as_users_test_only_code_would_be_reported(tmp_path: Path) -> None:
    """(the check above depends on reading the tests: here they are gone)"""
    root = _tree(tmp_path, {"pkg/mod.py": PACKAGE, "tests/whitelist.py": ""})
    found = _findings(root)
    assert any("helper_for_tests" in line for line in found)
    assert not any("'me'" in line for line in found)  # registered by @app.resolver


def test_vulture_failing_is_an_error_not_a_clean_report(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"pkg/mod.py": "def broken(:\n", "tests/whitelist.py": ""})
    with pytest.raises(RuntimeError, match="vulture failed"):
        _findings(root)


def _defined_names() -> set[str]:
    """Every name the checked packages define: functions, classes, arguments, attributes and
    variables assigned (what vulture could report)."""
    names: set[str] = set()
    for package in deadcode.PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.arg):
                    names.add(node.arg)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    names.add(node.attr)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
                elif isinstance(node, ast.ImportFrom):  # (imported names: vulture reports those too)
                    names.update(alias.asname or alias.name for alias in node.names)
    return names


def test_every_whitelisted_name_is_still_defined_in_the_packages() -> None:
    """A stale entry would hide real dead code of the same name: remove it with its code."""
    tree = ast.parse((ROOT / deadcode.WHITELIST).read_text(encoding="utf-8"))
    whitelisted = {node.attr for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                   and node.value.id == "_"}
    assert len(whitelisted) > 20
    assert sorted(whitelisted - _defined_names()) == []


def test_make_check_runs_the_deadcode_target() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    check = re.search(r"^check:([^#\n]*)", makefile, re.MULTILINE)
    assert check is not None and "deadcode" in check.group(1).split()
    recipe = re.search(r"^deadcode:.*\n\t(.*)", makefile, re.MULTILINE)
    assert recipe is not None and "-m tests.deadcode" in recipe.group(1)
