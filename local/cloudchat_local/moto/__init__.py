"""moto behind one guarded seam: every change the local stack makes to moto, and nothing else.

moto's internals are not API; each patch here was written against one moto release
(:data:`MOTO_VERSION`, pinned in pyproject.toml and requirements-dev.txt). Every entry point
first checks the installed moto and raises :class:`MotoVersionError` (naming both versions)
on any other, instead of patching code it has not read.

One private module per patch, each saying what moto does, what is changed, why, and where
upstream stands:

* :mod:`._locking`: DynamoDB backend serialized by one lock; transactions roll back items,
  not tables; an item's size counts the value an update leaves (:func:`serialize_dynamodb`);
* :mod:`._gsi_lag`: eventually consistent GSIs (:func:`gsi_lag`);
* :mod:`._queries`, :mod:`._responses`, :mod:`._routing`, :mod:`._expressions`,
  :mod:`._item_size`: speed-ups with moto's own answers (:func:`server_speedups`);
* :mod:`._streams`: stream records trimmed to a retention, shard iterators bounded;
* :mod:`._state`: every backend as one picklable document, and back;
* :mod:`._keep_alive`: moto server's request handler with HTTP/1.1 keep-alive;
* :mod:`._mails`: not a patch: the mails moto's SES accepted, read back from moto's
  dashboard data (:func:`sent_mails`).

:func:`unpatched` runs a block on moto as released (tests compare answers with and without
each patch); :func:`patches_enabled` reads ``CLOUDCHAT_MOTO_PATCHES`` (``off``: the
integration tests run on moto as released, ``make test-unpatched``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any, Final

from cloudchat_local.errors import MotoVersionError
from cloudchat_local.moto import _state
from cloudchat_local.moto._patching import LOCK, applied, unpatched

__all__ = [
    "LOCK",
    "MOTO_VERSION",
    "MotoVersionError",
    "applied",
    "bound_shard_iterators",
    "collect_backends",
    "dump_state",
    "gsi_lag",
    "keep_alive_handler",
    "patches_enabled",
    "require_pinned",
    "restorable_backends",
    "restore_backends",
    "sent_mails",
    "serialize_dynamodb",
    "server_speedups",
    "trim_stream_records",
    "unpatched",
]

#: The moto release every patch was written against (and the only one they are applied to).
MOTO_VERSION: Final = "5.2.5"
#: ``CLOUDCHAT_MOTO_PATCHES=off``: tests run on moto as released.
ENV_SWITCH: Final = "CLOUDCHAT_MOTO_PATCHES"


def installed_version() -> str:
    import moto

    return str(moto.__version__)


def require_pinned() -> None:
    """Raises :class:`MotoVersionError` unless the installed moto is :data:`MOTO_VERSION`."""
    installed = installed_version()
    if installed != MOTO_VERSION:
        raise MotoVersionError(installed, MOTO_VERSION)


def sent_mails(endpoint: str) -> list[dict[str, Any]]:
    """The mails moto's SES accepted (see :mod:`._mails`)."""
    from cloudchat_local.moto._mails import sent_mails as read

    return read(endpoint)


def patches_enabled() -> bool:
    """False when ``CLOUDCHAT_MOTO_PATCHES`` is ``off`` (or 0/false/no)."""
    return os.environ.get(ENV_SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def serialize_dynamodb() -> None:
    """DynamoDB transactions atomic and isolated, as on AWS (:mod:`._locking`). Idempotent."""
    require_pinned()
    from cloudchat_local.moto._locking import serialize_dynamodb as apply

    apply()


def gsi_lag(seconds: float, clock: Callable[[], float] | None = None) -> None:
    """Global secondary index reads lag the table by ``seconds`` (0: moto's own, always
    current answers); ``clock`` (default ``time.monotonic``) is for tests. Resets what was
    recorded (:mod:`._gsi_lag`)."""
    require_pinned()
    from cloudchat_local.moto import _gsi_lag

    _gsi_lag.configure(seconds, clock)


def server_speedups() -> None:
    """The speed fixes the moto *server* process gets (each checked against moto's own
    answers in tests/local): fast GetRecords and item answers, partition-only queries, a
    routing table read once, items built in linear time, expressions parsed once and
    validated once per update (not once per AST node). Idempotent."""
    require_pinned()
    from cloudchat_local.moto import _expressions, _item_size, _queries, _responses, _routing

    _responses.fast_stream_records()
    _responses.fast_dynamodb_responses()
    _queries.partition_queries()
    _routing.cache_backend_modules()
    _item_size.linear_item_size()
    _item_size.running_update_sizes()
    _expressions.cache_update_expressions()
    _expressions.cache_traversed_node_types()
    _expressions.fast_traversal()
    _expressions.fast_ast_copies()
    _expressions.parse_conditions_once_per_transaction()
    _expressions.validate_whole_update_once()


def bound_shard_iterators(limit: int | None = None) -> None:
    """moto keeps at most ``limit`` DynamoDB Streams shard iterators (:mod:`._streams`)."""
    require_pinned()
    from cloudchat_local.moto import _streams

    _streams.bound_shard_iterators(_streams.MAX_SHARD_ITERATORS if limit is None else limit)


def trim_stream_records(retention: dt.timedelta) -> int:
    """Drops DynamoDB stream records older than ``retention``; returns how many."""
    require_pinned()
    from cloudchat_local.moto import _streams

    return _streams.trim_stream_records(retention)


def collect_backends() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """Every moto backend in use: {(module, class): {account: {region: backend}}}."""
    require_pinned()
    return _state.collect()


def dump_state(document: Any) -> bytes:
    """``document`` (which may hold backends) pickled, keys as PEM and locks as new locks."""
    return _state.dumps(document)


def restorable_backends(backends: dict[tuple[str, str], dict[str, dict[str, Any]]]) -> list[Any]:
    """Where each saved backend goes; raises if one has no registry in this moto."""
    require_pinned()
    return _state.restorable(backends)


def restore_backends(restorable: list[Any]) -> None:
    """Puts the backends found by :func:`restorable_backends` back into moto."""
    _state.restore(restorable)


def keep_alive_handler() -> type:
    """moto server's request handler with HTTP/1.1 keep-alive (:mod:`._keep_alive`)."""
    require_pinned()
    from cloudchat_local.moto._keep_alive import keep_alive_handler as handler

    return handler()
