"""The moto server's state file: every moto backend pickled into one file, and back.

moto 5.2.5 has no persistence of its own (what is read from moto, and how backends are
pickled, is :mod:`cloudchat_local.moto`'s). On startup the backends saved in the file are put
back before the first request; :mod:`cloudchat_local._moto_serve` saves them on shutdown and
after writes. One pickle, so that objects shared between backends stay shared. A file that
cannot be read back is moved aside (``*.unreadable-<time>``), never deleted; stream records
older than 24 hours are dropped on restore, as DynamoDB Streams would.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Final

from cloudchat_local import moto as moto_seam

__all__ = ["STATE_FORMAT", "STREAM_RETENTION", "load_state", "save_state", "snapshot_bytes",
           "write_atomic"]

STATE_FORMAT: Final = 1
STREAM_RETENTION: Final = dt.timedelta(hours=24)

log = logging.getLogger("cloudchat_local.moto")


def snapshot_bytes(notes: list[str] | None = None) -> bytes:
    """moto's current state as bytes. Backends that cannot be pickled are left out (noted)."""
    backends = moto_seam.collect_backends()
    document = {
        "format": STATE_FORMAT,
        "moto_version": moto_seam.installed_version(),
        "saved_at": dt.datetime.now(dt.UTC).isoformat(),
        "backends": backends,
    }
    try:
        return moto_seam.dump_state(document)
    except Exception:  # noqa: S110 - narrowed down below, one registry at a time
        pass
    for key in list(backends):
        try:
            moto_seam.dump_state(backends[key])
        except Exception as exc:
            del backends[key]
            message = f"moto state of {key[0]}.{key[1]} is not saved: {exc}"
            log.warning(message)
            if notes is not None:
                notes.append(message)
    return moto_seam.dump_state(document)


def save_state(path: Path, notes: list[str] | None = None) -> int:
    """Writes the snapshot atomically (temporary file, then rename); returns its size."""
    data = snapshot_bytes(notes)
    write_atomic(path, data)
    return len(data)


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)



def load_state(path: Path, notes: list[str] | None = None) -> bool:
    """Puts the backends saved in ``path`` back into moto. False when there is no file.

    A file that cannot be read back is renamed ``<name>.unreadable-<time>`` (kept for the
    user), and moto starts empty; the reason is added to ``notes``.
    """
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as handle:
            document = pickle.load(handle)  # noqa: S301 - our own file, written by save_state
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise ValueError("not a CloudChat moto state file (or an older format)")
        restored = moto_seam.restorable_backends(document["backends"])
    except moto_seam.MotoVersionError:
        raise
    except Exception as exc:
        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        message = (
            f"could not restore the saved AWS state ({exc}); it was moved to {aside} and the "
            "local stack starts empty"
        )
        log.warning(message)
        if notes is not None:
            notes.append(message)
        return False
    moto_seam.restore_backends(restored)
    saved_by = document.get("moto_version")
    installed = moto_seam.installed_version()
    if saved_by != installed and notes is not None:
        notes.append(f"state saved by moto {saved_by}, restored into moto {installed}")
    moto_seam.trim_stream_records(STREAM_RETENTION)
    return True
