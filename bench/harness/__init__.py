"""What the benchmarks share, once: the local stack and its users, the gql clients, the GraphQL
documents (one ``Message`` fragment), child processes and /proc figures, percentiles, the
machine description and the JSON document. Private modules behind this public surface."""

from ._documents import (
    BODY_PAD,
    ECHO,
    MESSAGE_FIELDS,
    MESSAGES_SINCE,
    ON_ECHO,
    ON_MESSAGE,
    ON_USER_EVENT,
    SEND_MESSAGE,
)
from ._lambda import LambdaContext
from ._processes import (
    Child,
    children_of,
    cpu_seconds,
    descendants_of,
    free_port,
    process_role,
    read_ready_line,
    rss_mb,
    signal_all,
    spawn,
)
from ._report import (
    REPO,
    SCRATCH,
    argument_parser,
    commit,
    emit,
    load_average,
    machine_info,
    node_version,
    say,
    utc_now,
)
from ._sessions import AckingTransport, host, http_client, jwt_auth, run_async
from ._stack import Account, create_conversation, create_users, local_stack
from ._stats import ms, percentile, ratio

__all__ = [
    "BODY_PAD",
    "ECHO",
    "MESSAGES_SINCE",
    "MESSAGE_FIELDS",
    "ON_ECHO",
    "ON_MESSAGE",
    "ON_USER_EVENT",
    "REPO",
    "SCRATCH",
    "SEND_MESSAGE",
    "Account",
    "AckingTransport",
    "Child",
    "LambdaContext",
    "argument_parser",
    "children_of",
    "commit",
    "cpu_seconds",
    "create_conversation",
    "create_users",
    "descendants_of",
    "emit",
    "free_port",
    "host",
    "http_client",
    "jwt_auth",
    "load_average",
    "local_stack",
    "machine_info",
    "ms",
    "node_version",
    "percentile",
    "process_role",
    "ratio",
    "read_ready_line",
    "rss_mb",
    "run_async",
    "say",
    "signal_all",
    "spawn",
    "utc_now",
]
