"""Monthly AWS cost of a stated workload, from the request counts the tests measure per
operation (tests/integration/test_budgets.py), at AWS list prices (us-east-1, on-demand),
beside the same workload on seed 004's design (a KMS key per user, a data key per message,
bodies in S3). Prints JSON; `--markdown` prints the table used in docs/performance.md.

    .venv/bin/python -m bench.cost [--users 10000] [--messages 1000000] [--markdown]
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.harness import argument_parser, emit

# List prices (us-east-1), per unit. Check https://aws.amazon.com/pricing before relying on them.
PRICE = {
    "dynamodb_write_unit": 0.625 / 1e6,   # on-demand write request unit
    "dynamodb_read_unit": 0.125 / 1e6,    # on-demand read request unit
    "kms_key_month": 1.00,                # customer managed key
    "kms_request": 0.03 / 1e4,
    "s3_put": 0.005 / 1e3,
    "s3_get": 0.0004 / 1e3,
    "appsync_operation": 4.00 / 1e6,      # query / mutation
    "appsync_realtime_message": 2.00 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second_arm": 0.0000133334,
    "sns_publish": 0.50 / 1e6,
}


@dataclass(frozen=True)
class Op:
    """Per call: DynamoDB request units (writes, reads), KMS, S3 PUT/GET requests, Lambda ms."""

    wru: float = 0
    rru: float = 0
    kms: float = 0
    s3_put: float = 0
    s3_get: float = 0
    lambda_ms: float = 60


# CloudChat, warm (request counts from test_budgets.py; units for ~1 KB items; a
# transaction costs 2 units per item). sendMessage: one transaction of member update,
# conversation update (with the last-message copy, ~2 KB), message put, send guard and
# rate window: (1 + 2 + 1 + 1 + 1) x 2 = 12 WRU; plus its search postings (issue 14), about
# 20 for a 10-word message, 2 WRU each in the transaction: 12 + 40 = 52 WRU.
CLOUDCHAT = {
    "sendMessage": Op(wru=12 + 2 * 20, lambda_ms=40),
    "messages page (50)": Op(rru=52, lambda_ms=60),          # one strongly consistent BatchGet
    "conversations page (20)": Op(rru=10 + 40, lambda_ms=60),  # GSI query + BatchGet (20 + 20 members)
    "markRead": Op(wru=2 * 1 + 2 * 1, lambda_ms=30),        # transaction: check + update
    "addReaction": Op(wru=2 * 2, rru=2, lambda_ms=40),      # transaction + consistent read-back
    # the stream consumer, per message to a 5-member conversation: confirm read, members
    # query, 5 activity bumps, presence batch get; notifications are rarer (claims below)
    "fan-out per message": Op(wru=5, rru=2 + 3 + 3, lambda_ms=80),
    "cold containers": Op(kms=1),  # +1 Decrypt per conversation per cold container
}

# seed 004: per-user KMS key, a data key generated per message (and decrypted per read),
# the body stored in S3 (PUT per send, GET per message read).
SEED004 = {
    "sendMessage": Op(wru=1, kms=1, s3_put=1, lambda_ms=120),
    "messages page (50)": Op(rru=13, kms=50, s3_get=50, lambda_ms=900),
    "conversations page (20)": Op(rru=10, lambda_ms=60),
    "markRead": Op(wru=1, lambda_ms=30),
    "addReaction": Op(wru=1, lambda_ms=40),
    "fan-out per message": Op(),
    "cold containers": Op(),
}


def workload(users: int, messages: int) -> dict[str, float]:
    """Calls per month. Stated assumptions: 5 members per conversation on average, every
    message read by its 4 other members live (subscriptions), each user opens 2 message
    pages and 1 conversation list a day, reads are marked every ~2 messages, 1 reaction
    per 10 messages, and 1 cold container per 50 k messages."""
    return {
        "sendMessage": messages,
        "messages page (50)": users * 2 * 30,
        "conversations page (20)": users * 30,
        "markRead": messages * 4 / 2,
        "addReaction": messages / 10,
        "fan-out per message": messages,
        "cold containers": messages / 50_000 * 100,
    }


def monthly(design: dict[str, Op], calls: dict[str, float], users: int, messages: int,
            per_user_keys: bool) -> dict[str, float]:
    wru = sum(design[o].wru * n for o, n in calls.items())
    rru = sum(design[o].rru * n for o, n in calls.items())
    kms = sum(design[o].kms * n for o, n in calls.items())
    s3_put = sum(design[o].s3_put * n for o, n in calls.items())
    s3_get = sum(design[o].s3_get * n for o, n in calls.items())
    # live deliveries: 4 recipients per message (the read path of seed 004 also fetches
    # the body from S3 and decrypts its data key for each delivery)
    deliveries = messages * 4
    if design is SEED004:
        kms += deliveries
        s3_get += deliveries
    lambda_calls = sum(calls.values())
    gb_s = sum(design[o].lambda_ms / 1000 * 0.5 * n for o, n in calls.items())
    api_ops = sum(n for o, n in calls.items() if o not in ("fan-out per message", "cold containers"))
    cost = {
        "dynamodb": wru * PRICE["dynamodb_write_unit"] + rru * PRICE["dynamodb_read_unit"],
        "kms_keys": (users if per_user_keys else 1) * PRICE["kms_key_month"],
        "kms_requests": kms * PRICE["kms_request"],
        "s3_requests": s3_put * PRICE["s3_put"] + s3_get * PRICE["s3_get"],
        "appsync": api_ops * PRICE["appsync_operation"] + deliveries * PRICE["appsync_realtime_message"],
        "lambda": lambda_calls * PRICE["lambda_request"] + gb_s * PRICE["lambda_gb_second_arm"],
        "sns": messages * 0.05 * PRICE["sns_publish"],  # ~5% of messages notify someone
    }
    cost = {k: round(v, 2) for k, v in cost.items()}
    cost["total"] = round(sum(cost.values()), 2)
    return cost


def main() -> None:
    parser = argument_parser("bench.cost", __doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    calls = workload(args.users, args.messages)
    ours = monthly(CLOUDCHAT, calls, args.users, args.messages, per_user_keys=False)
    seed = monthly(SEED004, calls, args.users, args.messages, per_user_keys=True)
    if args.markdown:
        print("| cost per month (USD) | CloudChat | seed 004 design |\n|---|---:|---:|")
        for k in ours:
            print(f"| {k} | {ours[k]:,.2f} | {seed[k]:,.2f} |")
        return
    emit({"workload": {"users": args.users, "messages_per_month": args.messages,
                       "calls_per_month": {k: round(v) for k, v in calls.items()}},
          "prices_usd": PRICE, "cloudchat": ours, "seed004": seed,
          "ratio_seed004_to_cloudchat": round(seed["total"] / ours["total"], 1)})


if __name__ == "__main__":
    main()
