"""Each template function's own local AWS identity.

On AWS every Lambda function runs under its own execution role; locally each function's
processes get their own access key, so the local stack can tell which function made an AWS
call (and check it against that function's policies in template.yaml). Deterministic, so the
moto server, the emulator and the function processes agree without passing keys around.
"""

from __future__ import annotations

import hashlib
from typing import Final

ACCESS_KEY_PREFIX: Final = "LKIA"


def credentials_for(logical_id: str) -> tuple[str, str]:
    """``(access_key_id, secret_access_key)`` of a template function, e.g. ``MessagesFunction``."""
    digest = hashlib.sha256(logical_id.encode("utf-8")).hexdigest()[:16].upper()
    return f"{ACCESS_KEY_PREFIX}{digest}", f"local-secret-{logical_id}"
