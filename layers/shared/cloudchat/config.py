"""Configuration from environment variables, read once on first use (not at import time)."""

from __future__ import annotations

import os
from functools import lru_cache

from cloudchat.dataclass import dataclass
from cloudchat.errors import ConfigurationError  # (raised here; defined with every error)


@dataclass(frozen=True)
class Settings:
    table_name: str
    kms_key_id: str
    token_secret: bytes
    max_group_members: int = 100
    max_body_chars: int = 4000
    edit_window_seconds: int = 900
    data_key_max_age_seconds: int = 300
    data_key_max_uses: int = 100_000
    send_rate_per_minute: int = 120
    write_rate_per_minute: int = 120
    typing_min_interval_ms: int = 2000
    max_reaction_kinds: int = 20
    max_edits: int = 20
    appsync_url: str | None = None
    attachments_bucket: str | None = None
    notifications_topic_arn: str | None = None
    push_platform_applications: str = ""  # "APNS=arn:...,GCM=arn:..."
    notify_window_seconds: int = 300
    user_pool_id: str | None = None
    max_upload_bytes: int = 25 * 1024 * 1024
    region: str = "us-east-1"
    notice_sender: str | None = None  # e-mail notices' From (a verified SES identity); None: off
    notice_includes_text: bool = False  # e-mail notices quote the message (NoticeIncludesText)
    fanout_workers: int = 16  # partitions of a stream batch fanned out at once (fanout_groups)
    # conversations over this many members fan out at flat cost (cloudchat.fanout_large)
    large_group_threshold: int = 20


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"environment variable {name} must be an integer") from exc


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings. Tests call ``get_settings.cache_clear()`` after changing env."""
    secret = _required("TOKEN_SECRET").encode()
    if len(secret) < 32:
        raise ConfigurationError("TOKEN_SECRET must be at least 32 characters")
    return Settings(
        table_name=_required("TABLE_NAME"),
        kms_key_id=_required("KMS_KEY_ID"),
        token_secret=secret,
        max_group_members=_int("MAX_GROUP_MEMBERS", 100),
        max_body_chars=_int("MAX_BODY_CHARS", 4000),
        edit_window_seconds=_int("EDIT_WINDOW_SECONDS", 900),
        data_key_max_age_seconds=_int("DATA_KEY_MAX_AGE_SECONDS", 300),
        data_key_max_uses=_int("DATA_KEY_MAX_USES", 100_000),
        send_rate_per_minute=_int("SEND_RATE_PER_MINUTE", 120),
        write_rate_per_minute=_int("WRITE_RATE_PER_MINUTE", 120),
        typing_min_interval_ms=_int("TYPING_MIN_INTERVAL_MS", 2000),
        max_reaction_kinds=_int("MAX_REACTION_KINDS", 20),
        max_edits=_int("MAX_EDITS", 20),
        appsync_url=os.environ.get("APPSYNC_URL") or None,
        attachments_bucket=os.environ.get("ATTACHMENTS_BUCKET") or None,
        notifications_topic_arn=os.environ.get("NOTIFICATIONS_TOPIC_ARN") or None,
        push_platform_applications=os.environ.get("PUSH_PLATFORM_APPLICATIONS", ""),
        notify_window_seconds=_int("NOTIFY_WINDOW_SECONDS", 300),
        user_pool_id=os.environ.get("USER_POOL_ID") or None,
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        notice_sender=os.environ.get("NOTICE_SENDER") or None,
        notice_includes_text=os.environ.get("NOTICE_INCLUDES_TEXT", "false") == "true",
        fanout_workers=_int("FANOUT_WORKERS", 16),
        large_group_threshold=_int("LARGE_GROUP_THRESHOLD", 20),
    )
