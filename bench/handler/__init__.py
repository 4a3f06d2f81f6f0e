"""Warm handler CPU per operation next to its floor: each resolver's ``lambda_handler`` runs
in-process with its AWS answers replayed (recorded once from in-process moto; botocore still
serializes, signs and parses each call, nothing is sent), against a bare handler that makes
the same AWS calls with boto3 and nothing else. Prints JSON: per operation the median and p90
CPU time (``time.process_time``) of each, their ratio and the AWS calls per invocation.
Target (issue 15): the handler at most 1.5x its floor for sendMessage, the messages page,
markRead and addReaction.

    .venv/bin/python -m bench.handler [--iterations 300] [--warmup 30] [--profile addReaction]

Warm means what a Lambda container has after a few invocations: clients and settings made,
the conversation's data key cached (no KMS call), seq hints and message images remembered.
Each invocation gets a fresh copy of its event (events/*.json) and a new context, untimed;
handler and floor invocations alternate. ``--profile OPERATION`` adds a cProfile run of that
handler (top entries by self and cumulative time).
"""
