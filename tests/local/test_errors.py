"""cloudchat_local.errors: every exception class of the local stack, in one tree."""

from __future__ import annotations

import ast
import builtins
import faulthandler
import inspect
import signal
from pathlib import Path
from typing import Any

import pytest

from cloudchat_local import dev, errors, provision, template, web_config
from cloudchat_local import emulator as emulator_package
from cloudchat_local import iam as iam_package
from cloudchat_local.errors import (
    FrameError,
    HandlerError,
    LocalError,
    LocalStackError,
    PolicyError,
    PortInUse,
    SchemaError,
    StateDirBusy,
    TemplateError,
    UnresolvedReference,
    WebConfigError,
)

PACKAGE = Path(errors.__file__).parent
_BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                       if isinstance(value, type) and issubclass(value, BaseException)}


def _classes() -> list[type[BaseException]]:
    return [value for value in vars(errors).values()
            if isinstance(value, type) and issubclass(value, BaseException)
            and value.__module__ == errors.__name__]


def _exception_classes_outside_errors() -> list[str]:
    """``path:line name`` of each class (at any depth) outside errors.py whose bases include a
    built-in exception, a class of errors.py, or a name that reads like one."""
    known = _BUILTIN_EXCEPTIONS | set(errors.__all__)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                     for base in node.bases]
            if any(base in known or base.endswith(("Error", "Exception")) for base in bases):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    return found


def test_every_exception_class_of_the_local_stack_lives_in_errors() -> None:
    assert _exception_classes_outside_errors() == []


def test_every_class_is_exported_under_local_error_and_drawn_in_the_diagram() -> None:
    classes = _classes()
    assert sorted(cls.__name__ for cls in classes) == sorted(errors.__all__)
    diagram = inspect.getdoc(errors) or ""
    for cls in classes:
        assert issubclass(cls, LocalError), cls
        assert f"── {cls.__name__} " in diagram or cls is LocalError, cls.__name__
        assert cls.__doc__, cls.__name__
    assert any(line.strip().startswith("LocalError ") for line in diagram.splitlines())


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (TemplateError, ValueError),
        (UnresolvedReference, TemplateError),
        (PolicyError, TemplateError),
        (WebConfigError, ValueError),
        (HandlerError, ImportError),
        (FrameError, EOFError),
        (errors.ProvisionError, RuntimeError),
        (errors.MotoStartError, RuntimeError),
        (errors.FunctionStartError, RuntimeError),
        (errors.ConsumerStartError, RuntimeError),
        (errors.SeedError, RuntimeError),
        (LocalStackError, RuntimeError),
        (PortInUse, LocalStackError),
        (StateDirBusy, LocalStackError),
        (SchemaError, errors.ConfigError),
        (errors.ConfigError, errors.EmulatorError),
    ],
)
def test_the_built_in_bases_callers_catch_are_kept(cls: type[BaseException], base: type) -> None:
    assert issubclass(cls, base)


def test_only_the_start_errors_are_local_stack_errors() -> None:
    """`cloudchat dev` prints a LocalStackError in one line; everything else keeps its path."""
    starting = {cls.__name__ for cls in _classes() if issubclass(cls, LocalStackError)}
    assert starting == {"LocalStackError", "PortInUse", "StateDirBusy"}
    assert (LocalStackError.exit_code, PortInUse.exit_code, StateDirBusy.exit_code) == (1, 2, 2)


def test_port_in_use_names_the_port_its_owner_and_the_option() -> None:
    busy = PortInUse(4010, "moto", option="--moto-port")
    assert str(busy) == ("port 4010 on 127.0.0.1 (moto) is already in use: stop whatever uses it, "
                         "or pick another with --moto-port (0 picks a free port)")
    assert (busy.port, busy.host, busy.owner, busy.option) == (4010, "127.0.0.1", "moto", "--moto-port")
    bare = PortInUse(4000, "GraphQL API", host="::1")
    assert str(bare) == ("port 4000 on ::1 (GraphQL API) is already in use: stop whatever uses it, "
                         "or pick another port (0 picks a free port)")


def test_the_public_modules_still_export_their_errors() -> None:
    assert dev.PortInUse is emulator_package.PortInUse is PortInUse
    assert (dev.LocalStackError, dev.StateDirBusy) == (LocalStackError, StateDirBusy)
    assert (template.TemplateError, template.UnresolvedReference) == (TemplateError, UnresolvedReference)
    assert provision.ProvisionError is errors.ProvisionError
    assert web_config.WebConfigError is WebConfigError
    assert iam_package.PolicyError is PolicyError
    assert (emulator_package.ConfigError, emulator_package.SchemaError) == (errors.ConfigError, SchemaError)
    assert emulator_package.EmulatorError is errors.EmulatorError


@pytest.mark.parametrize(
    ("error", "code", "printed"),
    [
        (SchemaError("schema.graphql:1:1: bad"), 1, "cloudchat dev: schema.graphql:1:1: bad"),
        (PortInUse(4000, "GraphQL API", option="--port"), 2, "cloudchat dev: port 4000 on 127.0.0.1"),
        (errors.ProvisionError("moto said no"), 1, "cloudchat dev: ProvisionError: moto said no"),
    ],
)
def test_cloudchat_dev_reports_a_start_error_in_one_line(
    error: Exception, code: int, printed: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(self: Any) -> Any:
        raise error

    monkeypatch.setattr(dev.LocalStack, "start", refuse)
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr(faulthandler, "register", lambda *args, **kwargs: None)
    monkeypatch.setattr(dev, "configure_logging", lambda level: None)
    assert dev.main(["--state-dir", str(tmp_path / "state")]) == code
    assert capsys.readouterr().err.startswith(printed)
