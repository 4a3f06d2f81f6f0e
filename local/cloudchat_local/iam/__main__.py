"""``python -m cloudchat_local.iam report [--state-dir D] [--template T]``

Prints, per function of template.yaml, each granted action that no recorded call used
(least privilege, measured from ``<state-dir>/iam-usage.json``). Exit code 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloudchat_local.template import DEFAULT_TEMPLATE_PATH, load_template

from ._usage import USAGE_FILE, granted_actions, load_usage, unused_grants

DEFAULT_STATE_DIR = DEFAULT_TEMPLATE_PATH.parent / ".cloudchat" / "state"


def report(state_dir: Path, template_path: Path) -> str:
    template = load_template(template_path)
    usage_path = state_dir / USAGE_FILE
    usage = load_usage(usage_path)
    lines = [f"IAM grants never used (from {usage_path}; "
             f"{'no calls recorded yet' if not usage else 'recorded calls'}):"]
    grants = granted_actions(template)
    for function, unused in unused_grants(template, usage).items():
        total = len(grants[function])
        lines.append(f"{function}: {len(unused)} of {total} grant(s) unused")
        for sid, action in unused:
            lines.append(f"  {sid}: {action}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudchat_local.iam")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="granted actions that no recorded call used")
    rep.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    rep.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE_PATH)
    args = parser.parse_args(argv)
    print(report(args.state_dir, args.template))
    return 0


if __name__ == "__main__":
    sys.exit(main())
