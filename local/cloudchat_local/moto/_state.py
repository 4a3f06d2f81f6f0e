"""moto's backends as one picklable document, and back.

**What moto does.** moto keeps every backend in memory (``BackendDict``; every registry in
use is in ``BackendDict._instances``) and has no persistence of its own; some backends hold
objects pickle refuses (``cryptography`` keys: KMS asymmetric keys, Cognito's signing key;
``threading`` locks in SQS).

**What we change.** Nothing in moto: :func:`collect` reads every registry (but DynamoDB
Streams', which holds only shard iterators), :func:`dumps` pickles with keys as PEM and locks
as new locks, :func:`restorable` finds each saved backend's registry again and
:func:`restore` puts the backends back. The state *file* (format, atomic writes, a file that
cannot be read) is the local stack's (:mod:`cloudchat_local._moto_state`).

**Upstream.** https://github.com/getmoto/moto/issues/9755 (state persistence for moto server;
open design), https://github.com/getmoto/moto/issues/1069 (pickling the backends was
suggested by a maintainer), https://github.com/getmoto/moto/pull/6783 (shelve-based
persistence, closed).
"""

from __future__ import annotations

import contextlib
import io
import pickle
import threading
from collections.abc import Iterator
from typing import IO, Any, Final


def _private_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    return (
        rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey, ed25519.Ed25519PrivateKey,
        ed448.Ed448PrivateKey, x25519.X25519PrivateKey, x448.X448PrivateKey,
    )


def _public_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    return (
        rsa.RSAPublicKey, ec.EllipticCurvePublicKey, dsa.DSAPublicKey, ed25519.Ed25519PublicKey,
        ed448.Ed448PublicKey, x25519.X25519PublicKey, x448.X448PublicKey,
    )


def _load_private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem, password=None)


def _load_public_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_public_key(pem)


_RLOCK_TYPE: Final = type(threading.RLock())
_LOCK_TYPES: Final = (type(threading.Lock()), _RLOCK_TYPE)


def _new_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


class _StatePickler(pickle.Pickler):
    """A pickler that stores ``cryptography`` keys (unpicklable Rust objects) as PEM."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._private = _private_key_types()
        self._public = _public_key_types()

    def reducer_override(self, obj: Any) -> Any:
        from cryptography.hazmat.primitives import serialization

        # Locks (SQS queues hold some) come back new and unlocked: nothing runs while saving.
        if isinstance(obj, _LOCK_TYPES):
            return _new_lock, (isinstance(obj, _RLOCK_TYPE),)
        if isinstance(obj, self._private):
            key: Any = obj
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return _load_private_key, (pem,)
        if isinstance(obj, self._public):
            public: Any = obj
            pem = public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return _load_public_key, (pem,)
        return NotImplemented


def dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _StatePickler(buffer).dump(obj)
    return buffer.getvalue()


def _excluded(backend_dict: Any) -> bool:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    # Shard iterators only: the stream records themselves live in the DynamoDB tables.
    return bool(backend_dict.backend is DynamoDBStreamsBackend)


def _registries() -> Iterator[tuple[tuple[str, str], Any]]:
    """Every moto backend registry in use: ((module, class name), BackendDict)."""
    from moto.core.base_backend import BackendDict

    instances: list[Any] = list(BackendDict._instances)  # type: ignore[misc]
    for backend_dict in instances:
        if _excluded(backend_dict):
            continue
        cls = backend_dict.backend
        yield (cls.__module__, cls.__qualname__), backend_dict


def collect() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    return {
        key: {account: dict(regions.items()) for account, regions in backend_dict.items()}
        for key, backend_dict in _registries()
    }



def _registry_for(module_name: str, class_name: str) -> Any:
    import importlib

    from moto.core.base_backend import BackendDict

    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    for value in vars(module).values():
        if isinstance(value, BackendDict) and (cls is None or value.backend is cls):
            return value
    # Registries usually live in the backend's own ``models`` module; search its package.
    package = module_name.rsplit(".", 1)[0]
    for candidate in (f"{package}.models", package):
        with contextlib.suppress(ImportError):
            for value in vars(importlib.import_module(candidate)).values():
                if isinstance(value, BackendDict) and value.backend is cls:
                    return value
    raise LookupError(f"no moto backend registry for {module_name}.{class_name}")



def restorable(backends: dict[tuple[str, str], dict[str, dict[str, Any]]]) -> list[tuple[Any, str, str, Any]]:
    """(registry, account, region, backend) for each saved backend; raises LookupError (or
    ImportError) if one has no registry in this moto."""
    restored: list[tuple[Any, str, str, Any]] = []
    for (module_name, class_name), accounts in backends.items():
        registry = _registry_for(module_name, class_name)
        for account, regions in accounts.items():
            for region, backend in regions.items():
                restored.append((registry, account, region, backend))
    return restored


def restore(restored: list[tuple[Any, str, str, Any]]) -> None:
    """Puts the backends found by :func:`restorable` into moto's registries."""
    for registry, account, region, backend in restored:
        dict.__setitem__(registry[account], region, backend)
