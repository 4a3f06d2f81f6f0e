"""Encrypted search at 10k and 100k messages in one conversation: searchMessages latency (moto
in-process, so moto's speed, not DynamoDB's), DynamoDB requests and items read per page.

    .venv/bin/python -m bench.search [--sizes 10000,100000] [--runs 3] [--output FILE]

Loading: a conversation is created through the service, then the messages that the measured
queries can reach are written straight through the store's client in BatchWriteItem requests
(sealed bodies and index state as a send writes them, and the postings of the measured
queries' lookup terms): sending 100k messages one transaction at a time under moto takes far
longer than a benchmark may. A search reads only the postings of its lookup term and the
messages they name, so what no measured term reaches (other messages, other terms' postings)
is left out: DynamoDB serves a Query by key range, so they would change no figure here but
moto's latency (moto scans the partition per Query). The conversation's lastSeq is the full
size. Word frequencies: ``common`` in 1 % of the
messages, ``rare`` in 0.02 % (all of them also common), ``absent`` in none; ``common rare``
needs both (AND). About a minute.
"""

from __future__ import annotations

import os
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import argument_parser, emit, machine_info, ms, say

TABLE = "cloudchat-bench-search"
QUERIES = {
    "common (1 % of messages), first page of 20": ("budget", 20),
    "common, page of 100": ("budget", 100),
    "rare (0.02 %), first page of 20": ("zanzibar", 20),
    "prefix of the common word": ("budg", 20),
    "two words, both needed (common AND rare)": ("budget zanzibar", 20),
    "absent": ("unicorn", 20),
}
COMMON_EVERY, RARE_EVERY = 100, 5000


def _environment() -> None:
    os.environ.update({
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "TABLE_NAME": TABLE, "TOKEN_SECRET": "bench-search-token-secret-0123456789abcdef",
        "ATTACHMENTS_BUCKET": "cloudchat-bench-search",
    })


def _bodies(size: int) -> Iterator[tuple[int, str]]:
    """(seq, body) of every message a measured query can reach."""
    for seq in range(1, size + 1):
        words = []
        if seq % COMMON_EVERY == 0:
            words.append("budget")
        if seq % RARE_EVERY == 7 * COMMON_EVERY:
            words.append("zanzibar")
        if words:
            yield seq, f"status {' '.join(words)} review {seq}"


def _load(service: Any, caller: Any, size: int) -> str:
    from cloudchat import ids
    from cloudchat.crypto import blind_token, seal, search_key
    from cloudchat.models import MessageKind, StoredMessage, User
    from cloudchat.searchtext import query_words
    from cloudchat.services.search import body_tokens
    from cloudchat.store import _codec as codec
    from cloudchat.store import binding
    from cloudchat.store._keys import META, conv_pk, msg_sk  # (the bench writes items itself)

    store = service.store
    other = caller.user_id[:-1] + "0"
    for uid in (caller.user_id, other):
        store.put_profile_if_absent(User(id=uid, display_name=uid[:8], username=uid,
                                         created_at="2026-01-01T00:00:00.000Z",
                                         email=f"{uid[:8]}@example.com"))
    conv = service.create_conversation(caller, [other], "bench").conversation
    cid = conv.id
    key, kv = service._current_key(cid)
    measured = {blind_token(search_key(key), w.lookup)
                for q, _ in QUERIES.values() for w in query_words(q)}
    client = store._client()
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        for i in range(0, len(pending), 25):
            request = {TABLE: [{"PutRequest": {"Item": store._av(it)}} for it in pending[i:i + 25]]}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        pending.clear()

    t0 = time.monotonic()
    for seq, text in _bodies(size):
        at = f"2026-01-01T00:00:{seq % 60:02d}.{seq % 1000:03d}Z"
        mid = ids.new_message_id(seq, 1_767_225_600_000 + seq)
        msg = StoredMessage(conversation_id=cid, seq=seq, id=mid, sender_id=caller.user_id,
                            kind=MessageKind.TEXT, created_at=at, client_message_id=None, sealed=None)
        msg.sealed = seal(key, text, conversation_id=cid, message_id=mid, key_version=kv,
                          binding=binding(msg))
        tokens = body_tokens(key, text)
        item = {"PK": conv_pk(cid), "SK": msg_sk(seq), "type": "MSG", "sx": b"".join(tokens),
                **{k: v for k, v in codec.message_attrs(msg).items() if v is not None}}
        pending.append(item)
        pending.extend(store._py(store._posting_op(cid, seq, t, True, at)["Put"]["Item"])
                       for t in tokens if t in measured)
        if len(pending) >= 500:
            flush()
    flush()
    client.update_item(TableName=TABLE, Key=store._key(conv_pk(cid), META),
                       UpdateExpression="SET lastSeq = :n",
                       ExpressionAttributeValues={":n": {"N": str(size)}})
    say(f"loaded {size} messages' reachable items in {time.monotonic() - t0:.1f} s")
    return str(cid)


def _measure(service: Any, caller: Any, cid: str, query: str, limit: int,
             runs: int) -> dict[str, Any]:
    from cloudchat import aws

    calls: Counter[str] = Counter()
    items_read: list[int] = []

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    def read(parsed: Any, model: Any, **_: Any) -> None:
        if model.name == "Query":
            items_read.append(len(parsed.get("Items", [])))
        elif model.name == "BatchGetItem":
            items_read.append(sum(len(v) for v in parsed.get("Responses", {}).values()))

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb", count)
    events.register("after-call.dynamodb", read)
    try:
        latencies, hits, token = [], 0, None
        for _ in range(runs):
            calls.clear()
            items_read.clear()
            t0 = time.perf_counter()
            page = service.search_messages(caller, query, cid, limit, None)
            latencies.append(time.perf_counter() - t0)
            hits, token = len(page.items), page.next_token
        return {"query": query, "limit": limit, "hits": hits, "more": token is not None,
                "dynamodb_requests": dict(calls), "items_read": sum(items_read),
                "latency_ms_median_moto": ms(statistics.median(latencies)),
                "latency_ms_min_moto": ms(min(latencies))}
    finally:
        events.unregister("before-call.dynamodb", count)
        events.unregister("after-call.dynamodb", read)


def run_size(size: int, runs: int) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from cloudchat import api
    from cloudchat.models import Caller
    from cloudchat_local import moto as moto_seam
    from cloudchat_local.template import load_template

    moto_seam.server_speedups()  # moto's answers, faster (as the integration tests run it)
    with mock_aws():
        boto3.client("dynamodb").create_table(**load_template().table_create_kwargs(TABLE))
        os.environ["KMS_KEY_ID"] = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        api.reset()
        service = api.service()
        caller = Caller("11111111-1111-4111-8111-111111111111", "11111111-1111-4111-8111-111111111111")
        cid = _load(service, caller, size)
        results = {name: _measure(service, caller, cid, q, limit, runs)
                   for name, (q, limit) in QUERIES.items()}
        api.reset()
    return {"messages": size, "common_messages": size // COMMON_EVERY,
            "rare_messages": sum(1 for s in range(1, size + 1) if s % RARE_EVERY == 7 * COMMON_EVERY),
            "queries": results}


def main() -> None:
    parser = argument_parser("bench.search", __doc__)
    parser.add_argument("--sizes", default="10000,100000", help="messages in the conversation")
    parser.add_argument("--runs", type=int, default=3, help="searches per query (median reported)")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    _environment()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    emit({"benchmark": "search", "machine": machine_info(),
          "note": "latency is moto in-process (Python), not DynamoDB; requests and items read "
                  "are what DynamoDB would serve",
          "sizes": [run_size(n, args.runs) for n in sizes]}, args.output)


if __name__ == "__main__":
    main()
