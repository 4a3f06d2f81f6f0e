"""The e-mail moto's SES accepted, read back (not a patch: a reader).

What moto does: SES ``SendEmail`` (v1) records a ``Message`` model (``id``, ``source``,
``destinations``, ``subject``, ``body``) in its backend and delivers nothing. Every moto model
instance is also tracked for moto's own dashboard, which reads them all as JSON from the
server's ``GET /moto-api/data.json`` (``{service: {model: [attributes]}}``): that documented
endpoint is how the local stack reads the mails, so nothing of moto is imported or changed.
The model's name and attribute names are moto 5.2.5's, hence the version check.

Tracked instances live in the moto process's memory: mails sent before the local stack was
restarted are gone (the stack's saved state restores backends, not the dashboard's list).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

__all__ = ["sent_mails"]


def sent_mails(endpoint: str, *, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every mail moto's SES accepted, oldest first: ``{"id", "from", "to", "cc", "bcc",
    "subject", "body"}``. ``endpoint`` is the moto server (a loopback URL)."""
    from cloudchat_local.moto import require_pinned

    require_pinned()
    url = f"{endpoint.rstrip('/')}/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback moto
        data = json.load(resp)
    mails = []
    for raw in (data.get("ses") or {}).get("Message") or []:
        to = raw.get("destinations") or {}
        mails.append({
            "id": raw.get("id"), "from": raw.get("source"),
            "to": list(to.get("ToAddresses") or []), "cc": list(to.get("CcAddresses") or []),
            "bcc": list(to.get("BccAddresses") or []),
            "subject": raw.get("subject"), "body": raw.get("body"),
        })
    return mails
