"""Load and soak run: many users, conversations, concurrent senders and subscribers, and
reconnect storms against the real local stack, bounded in time and count, loopback only.

    .venv/bin/python -m bench.soak [--users 50] [--conversations 20] [--duration 120]
                                   [--max-messages 3000] [--storms 3] [--output FILE]

Prints one JSON document on stdout (progress goes to stderr) and exits non-zero when an
invariant fails. What it does:

1. starts ``python -m cloudchat_local.dev`` as a subprocess on free 127.0.0.1 ports with a
   temporary state dir (``bench.harness.local_stack``: fresh, no demo seed, no TLS);
2. creates ``--users`` Cognito users in moto (``create_demo_users``), signs each in with
   ``USER_PASSWORD_AUTH``, creates ``--conversations`` conversations (about a quarter DIRECT,
   the rest GROUPs of several members; every user is in at least one);
3. opens one gql ``AppSyncWebsocketsTransport`` per (member, conversation) with an
   ``onMessage`` subscription, waits for every ``start_ack``, then catches up;
4. runs ``--senders`` concurrent senders (gql ``AIOHTTPTransport``, one keep-alive session per
   user) until ``--duration`` seconds or ``--max-messages`` messages, each with a unique
   ``clientMessageId``; some sends are retried with the same ``clientMessageId``: again after
   the answer, twice at once, and after the client gave up waiting (a lost response);
5. during the send phase runs ``--storms`` reconnect storms: ``--storm-fraction`` of the
   WebSockets are aborted at once (TCP closed, no ``stop``, no close frame); each reconnects,
   waits for ``start_ack``, then catches up with ``messagesSince(afterSeq: w)`` where ``w``
   is the highest seq below which it has seen everything, paging until a short page;
6. waits for deliveries to settle, reads every conversation's history from seq 0 and checks
   the invariants (``invariants`` in the JSON; any false one makes the exit code 1);
7. meanwhile ``--inbox-watchers`` users also subscribe to ``onUserEvent``, whose MESSAGE
   events the DynamoDB stream consumer publishes (off the hot path): after the sends it waits
   up to ``--inbox-wait`` seconds for them and reports (``inbox_fan_out``) the inbox events
   expected / received / missing, the fan-out's lag from each message's commit
   (``createdAt``) to each inbox event (p50/p95/p99/max), and its backlog every 5 s from the
   first send (messages committed minus messages whose inbox events all arrived, and the age
   of the oldest such message): information, not an invariant.

Memory is the RSS (``/proc/<pid>/status`` VmRSS) of the local stack's process and its
children (moto) at start, after setup, at the end and every 10 s (``timeline_every_10s``,
with their CPU seconds since the sends started).

Subscriptions are at most once (DESIGN.md): a subscriber gets nothing between a drop and the
next ``start_ack``; it is the catch-up that makes delivery complete. Membership does not change
during the run, so "sent while a member" is every message of the conversation.
"""
