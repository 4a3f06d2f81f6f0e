"""pyproject.toml tells the truth about what each part imports.

Each part may use the groups it is installed with: the deployed code (``cloudchat``,
``resolvers``) the base dependencies; the client library the base and ``client``; the CLI those and
``cli``; the local stack the base and
``local``; the tests and benchmarks everything. A module's imports count for every part that
imports it (the CLI's ``seed`` imports ``cloudchat_local.provision``, so the CLI needs what that
imports). Every declared distribution must be imported by its part, or be a named tool. Every
declared distribution is pinned exactly in requirements-dev.txt (what the Makefile installs), and
the pin lies in the declared range; the Lambda layer pins exactly the base minus what the Lambda
runtime brings. Imports under ``if TYPE_CHECKING:`` never run: they are mypy's (type stubs such as
types-boto3's), so they need no run-time declaration, only to come from what the dev group installs.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable, Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "cloudchat"

#: first-party top-level module -> its directory
PACKAGES = {
    "cloudchat": ROOT / "layers/shared/cloudchat",
    "resolvers": ROOT / "resolvers",
    "cloudchat_local": ROOT / "local/cloudchat_local",
    "cloudchat_cli": ROOT / "clients/cloudchat_cli",
    "cloudchat_client": ROOT / "clients/cloudchat_client",
    "tests": ROOT / "tests",
    "bench": ROOT / "bench",
}
#: part -> (the packages it is made of, the dependency groups installed with it)
PARTS = {
    "deployed": (("cloudchat", "resolvers"), ("base",)),
    "client": (("cloudchat_client",), ("base", "client")),
    "cli": (("cloudchat_cli",), ("base", "client", "cli")),
    "local": (("cloudchat_local",), ("base", "local")),
    "dev": (("tests", "bench"), ("base", "client", "cli", "local", "dev")),
}
#: declared but never imported: each is run, not imported
TOOLS = {
    "pytest-timeout": "pytest plugin (the timeout setting in [tool.pytest.ini_options])",
    "pytest-xdist": "pytest plugin (-n)",
    "ruff": "make lint",
    "mypy": "make typecheck",
    "pre-commit": "git hooks (.pre-commit-config.yaml, make pre-commit)",
    "types-pyyaml": "type stubs read by mypy",
    "types-boto3": "type stubs read by mypy (imported only under TYPE_CHECKING)",
    "cfn-lint": "make template-lint",
    "vulture": "make deadcode",
}
#: distributions in the base that the Lambda runtime provides (not packaged in the layer)
LAMBDA_RUNTIME = {"boto3", "botocore", "urllib3"}


def _pyproject() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"base": [Requirement(r) for r in project.get("dependencies", [])]}
    for name, reqs in project.get("optional-dependencies", {}).items():
        groups[name] = [Requirement(r) for r in reqs]
    return groups


def declared() -> dict[str, dict[str, Requirement]]:
    """group -> distribution -> requirement (a self-reference such as cloudchat[cli] is left out)."""
    return {group: {canonicalize_name(r.name): r for r in reqs if canonicalize_name(r.name) != PROJECT}
            for group, reqs in _pyproject().items()}


def pins(path: Path) -> dict[str, str]:
    """distribution -> exact version of a requirements file (following -r)."""
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            found.update(pins(path.parent / line[2:].strip()))
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {line} is not an exact pin"
        found[canonicalize_name(req.name)] = specs[0].version
    return found


# --- what the code imports ---------------------------------------------------------------------

def _module_file(name: str) -> Path | None:
    """The file a dotted first-party module name is, or None."""
    top, *rest = name.split(".")
    base = PACKAGES.get(top)
    if base is None:
        return None
    path = base.joinpath(*rest)
    if path.is_dir() and (path / "__init__.py").exists():
        return path / "__init__.py"
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return None


def _guarded(node: ast.Try) -> bool:
    """A ``try`` whose handlers catch ImportError: an optional import."""
    names = {"ImportError", "ModuleNotFoundError"}
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(k, ast.Name) and k.id in names for k in kinds):
            return True
    return False


def _type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): a block only mypy reads."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(node: ast.AST, optional: bool = False) -> Iterator[tuple[str, bool]]:
    """(dotted module name, optional) for each import that runs, including
    pytest.importorskip("x"); not those under ``if TYPE_CHECKING:`` (see typing_imports)."""
    if _type_checking(node):
        for statement in node.orelse:
            yield from _imports(statement, optional)
        return
    if isinstance(node, ast.Import):
        yield from ((alias.name, optional) for alias in node.names)
        return
    if isinstance(node, ast.ImportFrom):
        if node.level == 0 and node.module:
            yield node.module, optional
            yield from ((f"{node.module}.{alias.name}", optional) for alias in node.names)
        return
    if isinstance(node, ast.Try) and _guarded(node):
        for statement in node.body:
            yield from _imports(statement, True)
        for rest in (*node.handlers, *node.orelse, *node.finalbody):
            yield from _imports(rest, optional)
        return
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "importorskip" and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        yield node.args[0].value, optional
    for child in ast.iter_child_nodes(node):
        yield from _imports(child, optional)


@cache
def _file_imports(path: Path) -> tuple[tuple[str, bool], ...]:
    return tuple(_imports(ast.parse(path.read_text(), str(path))))


def third_party(packages: Iterable[str]) -> dict[str, set[str]]:
    """Required third-party top-level modules -> the files importing them, over the first-party
    closure of ``packages`` (a module's imports count wherever it is imported)."""
    # (not hidden folders: bench/.scratch holds the simulator's npm tree, with Python in it)
    todo = [f for p in packages for f in PACKAGES[p].rglob("*.py")
            if not any(part.startswith(".") for part in f.relative_to(PACKAGES[p]).parts)]
    seen: set[Path] = set()
    found: dict[str, set[str]] = {}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name, optional in _file_imports(path):
            top = name.split(".")[0]
            if top in PACKAGES:
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # a package's __init__ runs on import
                    target = _module_file(".".join(parts[:i]))
                    if target is not None:
                        todo.append(target)
            elif top not in stdlib and not optional:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def typing_imports(packages: Iterable[str]) -> dict[str, set[str]]:
    """Third-party top-level modules imported under ``if TYPE_CHECKING:`` -> the files."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    found: dict[str, set[str]] = {}
    for package in packages:
        for path in PACKAGES[package].rglob("*.py"):
            if any(part.startswith(".") for part in path.relative_to(PACKAGES[package]).parts):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not _type_checking(node):
                    continue
                for statement in node.body:
                    for child in ast.walk(statement):
                        names = ([a.name for a in child.names] if isinstance(child, ast.Import)
                                 else [child.module] if isinstance(child, ast.ImportFrom)
                                 and child.level == 0 and child.module else [])
                        for name in names:
                            top = name.split(".")[0]
                            if top not in PACKAGES and top not in stdlib:
                                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def brought_by(req: Requirement) -> set[str]:
    """The distributions a declared requirement installs itself: its own, and what it requires
    with the extras it is declared with (``types-boto3[sqs]`` brings types-boto3-sqs)."""
    from importlib.metadata import requires

    found = {canonicalize_name(req.name)}
    for line in requires(req.name) or []:
        dep = Requirement(line)
        if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in req.extras or {""}):
            found.add(canonicalize_name(dep.name))
    return found


@cache
def _module_to_dists() -> dict[str, list[str]]:
    return {module: [canonicalize_name(d) for d in dists]
            for module, dists in packages_distributions().items()}


def distribution_of(module: str) -> str:
    dists = sorted(set(_module_to_dists().get(module, [])) - {PROJECT})
    assert len(dists) == 1, f"import {module}: installed from {dists or 'nothing'}"
    return dists[0]


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("part", PARTS)
def test_every_import_is_declared_in_its_parts_groups(part: str) -> None:
    packages, groups = PARTS[part]
    allowed = {dist for group in groups for dist in declared()[group]}
    missing = {f"{module} ({distribution_of(module)}): {sorted(files)[0]}"
               for module, files in third_party(packages).items()
               if distribution_of(module) not in allowed}
    assert not missing, f"{part} imports undeclared distributions (add them to {groups[-1]}): {missing}"


@pytest.mark.parametrize("part", PARTS)
def test_every_declared_dependency_is_imported_or_a_named_tool(part: str) -> None:
    packages, groups = PARTS[part]
    imported = {distribution_of(module) for module in third_party(packages)}
    unused = set(declared()[groups[-1]]) - imported - set(TOOLS)
    assert not unused, f"{groups[-1]} declares what {part} never imports: {sorted(unused)}"


def test_type_checking_imports_come_from_the_dev_installation() -> None:
    """mypy runs with the dev group installed, and ``ignore_missing_imports`` would turn a stub
    package it lacks into a silent ``Any``: each ``if TYPE_CHECKING:`` import must come from a
    declared distribution, or one a declared distribution brings with its declared extras."""
    installed = set().union(*(brought_by(req) for group in declared().values()
                              for req in group.values()))
    found = typing_imports(("cloudchat", "resolvers", "cloudchat_local", "cloudchat_cli",
                            "cloudchat_client", "bench"))
    assert "types_boto3_dynamodb" in found  # (the check sees the imports it is about)
    missing = {f"{module} ({distribution_of(module)}): {sorted(files)[0]}"
               for module, files in found.items() if distribution_of(module) not in installed}
    assert not missing, f"typing-only imports from outside the dev installation: {missing}"


def test_brought_by_follows_only_the_declared_extras() -> None:
    assert "types-boto3-sqs" in brought_by(Requirement("types-boto3[sqs]"))
    assert "types-boto3-sqs" not in brought_by(Requirement("types-boto3[sns]"))


def test_named_tools_are_declared() -> None:
    assert set(TOOLS) <= set(declared()["dev"])


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    locked = pins(ROOT / "requirements-dev.txt")
    ranges = {dist: req for group in declared().values() for dist, req in group.items()}
    assert set(locked) == set(ranges), (
        f"declared, not pinned: {sorted(set(ranges) - set(locked))}; "
        f"pinned, not declared: {sorted(set(locked) - set(ranges))}")
    outside = {f"{dist}=={locked[dist]} not in {req}" for dist, req in ranges.items()
               if not req.specifier.contains(locked[dist], prereleases=True)}
    assert not outside
    extras = {dist: req.extras for dist, req in ranges.items()}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            req = Requirement(line)
            assert req.extras == extras[canonicalize_name(req.name)], f"extras differ: {line}"


def test_the_lambda_layer_pins_the_base_minus_the_runtime() -> None:
    layer = pins(ROOT / "layers/shared/requirements.txt")
    assert set(layer) == set(declared()["base"]) - LAMBDA_RUNTIME


def test_installed_versions_are_the_pins() -> None:
    """The environment the suite runs in is the one requirements-dev.txt describes."""
    from importlib.metadata import version

    wrong = {f"{dist}: {version(dist)} installed, {pin} pinned"
             for dist, pin in pins(ROOT / "requirements-dev.txt").items() if version(dist) != pin}
    assert not wrong


def _exact(dist: str) -> bool:
    specs = [list(group[dist].specifier) for group in declared().values() if dist in group]
    return bool(specs) and all(len(s) == 1 and s[0].operator == "==" for s in specs)


def test_private_names_come_only_from_exactly_pinned_distributions() -> None:
    """A private name (``from werkzeug.serving import _log``) is not API: it moves without
    notice. Only a distribution pinned exactly in pyproject.toml (moto, whose internals the local
    stack patches for that one release) may be reached into."""
    private = set()
    stdlib = set(sys.stdlib_module_names)
    for package in ("cloudchat", "resolvers", "cloudchat_local", "cloudchat_cli", "cloudchat_client"):
        for path in PACKAGES[package].rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        and node.module.split(".")[0] not in (*PACKAGES, *stdlib)):
                    names = [a.name for a in node.names if a.name.startswith("_")]
                    if names and not _exact(distribution_of(node.module.split(".")[0])):
                        private.add(f"{path.relative_to(ROOT)}: from {node.module} import {names}")
    assert not private, private


def test_strawberry_is_gone() -> None:
    """The emulator is schema-first on graphql-core; strawberry (code-first) is not used."""
    assert "strawberry-graphql" not in pins(ROOT / "requirements-dev.txt")
    assert "strawberry" not in third_party(PACKAGES)


def test_the_readme_explains_every_dependency() -> None:
    """README's Dependencies table has a row naming each declared distribution, and no other."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Dependencies\n", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("dependency", "---"):
            named |= {canonicalize_name(n.split("[")[0]) for n in cells[0].split(", ")}
    everything = {dist for group in declared().values() for dist in group}
    assert everything <= named, f"not in README's Dependencies table: {sorted(everything - named)}"
    assert named - everything <= {"aws-sam-cli"}, sorted(named - everything)


def test_every_subpackage_is_in_the_distribution() -> None:
    """A non-editable install (``pip install '.[cli]'``) ships only the packages pyproject names:
    every folder with an ``__init__.py`` under a package root must be listed."""
    repo = Path(__file__).resolve().parents[2]
    setup = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    found = set()
    for package, folder in setup["package-dir"].items():
        for init in (repo / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(repo / folder)
            found.add(".".join((package, *relative.parts)))
    assert found == set(setup["packages"])
