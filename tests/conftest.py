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


# --------------------------------------------------------------------------- least privilege
# Every local stack the tests start records which of template.yaml's IAM grants its functions'
# calls used (cloudchat_local.iam, <state-dir>/iam-usage.json). The stacks add theirs to one
# file for the run; at the end the run lists each granted action that no test exercised, and
# writes the list to .cloudchat/iam-least-privilege.txt.

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

_REPO = Path(__file__).resolve().parents[1]
_RUN_USAGE: list[Path] = []


def record_iam_usage(state_dir: Path) -> None:
    """Adds a stopped stack's recorded IAM usage to this run's (tests/e2e/conftest.py)."""
    from cloudchat_local.iam._usage import USAGE_FILE, load_usage, merge_usage

    if not _RUN_USAGE:
        return
    usage = load_usage(state_dir / USAGE_FILE)
    if usage:
        merge_usage(_RUN_USAGE[0], usage)


def pytest_sessionstart(session: pytest.Session) -> None:
    import tempfile

    _RUN_USAGE.append(Path(tempfile.mkdtemp(prefix="cloudchat-iam-")) / "iam-usage.json")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RUN_USAGE or not _RUN_USAGE[0].is_file():
        return
    from cloudchat_local.iam.__main__ import report

    text = report(_RUN_USAGE[0].parent, _REPO / "template.yaml")
    out = _REPO / ".cloudchat" / "iam-least-privilege.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    terminalreporter.write_sep("-", f"least privilege, measured by this run (also in {out.relative_to(_REPO)})")
    terminalreporter.write_line(text)
