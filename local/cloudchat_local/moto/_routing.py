"""moto server's routing table, read once.

**What moto does.** To route each request, moto server calls
``moto.backends.list_of_moto_modules()``, which lists moto's package directory
(``os.listdir`` plus an ``isdir`` per service, ~200 system calls), twice per request.

**What we change.** The list is read once; it never changes while the process runs.

**Why.** Speed only (the same list).

**Upstream.** No issue found. Pull request text ready to send: "core: cache
list_of_moto_modules() with functools.cache — the installed package does not change at run
time, and the server calls it twice per request."
"""

from __future__ import annotations

from cloudchat_local.moto._patching import replace


def cache_backend_modules() -> None:
    """moto's server lists its package directory (``os.listdir`` plus an ``isdir`` per
    service, ~200) twice per request to route it; the list never changes while it runs."""
    import moto.backends as backends

    if isinstance(backends.list_of_moto_modules(), tuple):
        return  # already cached
    modules = tuple(backends.list_of_moto_modules())
    replace(backends, "list_of_moto_modules", lambda: modules)

