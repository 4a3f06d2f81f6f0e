"""Test-wide environment: fake AWS credentials and a fixed region, so nothing can reach AWS."""

import os

for _k, _v in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "cloudchat",
    "POWERTOOLS_METRICS_NAMESPACE": "CloudChat",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # botocore >= 1.37 sends DynamoDB (Streams) calls to account-based endpoints
    # (<account>.streams-ddb...), which moto's in-process mock does not route.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}.items():
    os.environ[_k] = _v
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

# --------------------------------------------------------------------------- parallel runs
# `make test` runs under pytest-xdist with --dist loadfile: each module runs whole on one
# worker, so a module's stack (tests/e2e: one local stack per module) or browser starts once.
# Modules go out in collection order (--no-loadscope-reorder), so the longest ones go first:
# the e2e modules (local stacks, a browser), then any module with a `slow` test, then the rest,
# each group in the usual order, which fills in the gaps while the long ones run. (Only
# under xdist: a serial run keeps pytest's order.)


def _module_rank(item: pytest.Item) -> int:
    if item.get_closest_marker("e2e") is not None:
        return 0
    return 1 if item.get_closest_marker("slow") is not None else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # a serial run keeps the plain order
        return
    ranks: dict[Path, int] = {}
    for item in items:
        ranks[item.path] = min(ranks.get(item.path, 2), _module_rank(item))
    items.sort(key=lambda item: ranks[item.path])  # stable: the order within a rank is kept


# --------------------------------------------------------------------------- least privilege
# Every local stack the tests start records which of template.yaml's IAM grants its functions'
# calls used (cloudchat_local.iam, <state-dir>/iam-usage.json). The stacks add theirs to one
# file for the run; at the end the run lists each granted action that no test exercised, and
# writes the list to .cloudchat/iam-least-privilege.txt (--iam-report to write it elsewhere).
# Under pytest-xdist the controller makes that file and hands its path to every worker
# (workerinput); the workers merge into it under merge_usage's file lock, so the report covers
# every worker's stacks, and a worker that dies keeps what its stacks had recorded.

_REPO = Path(__file__).resolve().parents[1]
_RUN_USAGE: list[Path] = []
_WORKER_KEY = "cloudchat_iam_usage"


def record_iam_usage(state_dir: Path) -> None:
    """Adds a stopped stack's recorded IAM usage to this run's (tests/e2e/conftest.py)."""
    from cloudchat_local.iam._usage import USAGE_FILE, load_usage, merge_usage

    if not _RUN_USAGE:
        return
    usage = load_usage(state_dir / USAGE_FILE)
    if usage:
        merge_usage(_RUN_USAGE[0], usage)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--iam-report", type=Path, default=_REPO / ".cloudchat" / "iam-least-privilege.txt",
                     help="where the run's least-privilege report goes (default: %(default)s)")


def pytest_configure(config: pytest.Config) -> None:
    import tempfile

    _RUN_USAGE.clear()
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: the controller's file
        _RUN_USAGE.append(Path(workerinput[_WORKER_KEY]))
    else:
        _RUN_USAGE.append(Path(tempfile.mkdtemp(prefix="cloudchat-iam-")) / "iam-usage.json")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist (controller): each worker gets the run's usage file."""
    node.workerinput[_WORKER_KEY] = str(_RUN_USAGE[0])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not _RUN_USAGE or not _RUN_USAGE[0].is_file():
        return
    from cloudchat_local.iam.__main__ import report

    text = report(_RUN_USAGE[0].parent, _REPO / "template.yaml")
    out = Path(config.getoption("iam_report")).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    shown = out.relative_to(_REPO) if out.is_relative_to(_REPO) else out
    terminalreporter.write_sep("-", f"least privilege, measured by this run (also in {shown})")
    terminalreporter.write_line(text)
