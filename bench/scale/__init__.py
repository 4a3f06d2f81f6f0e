"""``python -m bench.scale``: what one message and the list operations cost as a GROUP
conversation grows (N = 2, 10, 100, 1,000 and 10,000 members), in-process on moto.

Per message (a member's ``sendMessage`` through its handler, then the DynamoDB-stream
consumer of ``resolvers/stream.py`` over exactly that send's stream records, with the real
AppSync publisher against a loopback stand-in and the SNS notifier): DynamoDB requests, write
units (table, and each GSI) and read units, AppSync requests (``publishUserEvent``, one
event each), SNS publishes and the consumer's CPU time. Two messages per size: one inside a
notification window (members were notified a moment ago) and the first of a new window
(every offline member is notified; nobody is online here). Per operation, for a member of
``--conversations`` conversations of that size: the conversation list (``conversations``,
first page of 20) and the member list (``conversation(id) { members }``): requests, read
units, the largest item read and the answer's size.

Write and read units are computed from the items' sizes per DynamoDB's rules (moto's
ConsumedCapacity is a constant), each item read back before and after every write; CPU is the
process's CPU minus moto's answers and the meter's own work (``_meter.py``). Today's model
fails at some N (the conversation item keeps a member map, which passes DynamoDB's 400 KB
item limit near 10,000 members): that size reports ``error`` and the others are measured.
``cost_per_message`` sums each message's write units, AppSync requests and consumer CPU and
compares each with N=10 (issue 15's target: at most 2x at 10,000 members).

Options: ``--sizes 2,10,100,1000,10000``, ``--conversations 20`` (the list's conversations
per size), ``--repeat 3`` (messages inside the window; the median CPU is reported),
``--output FILE``, ``--chart FILE`` (an SVG of cost per message against members, log scale),
``--markdown FILE`` (the tables of docs/performance.md).
About 5 minutes for every size on a 2-core machine at load average 17 (82 s of CPU; the
10,000-member set-up alone is a minute); ``--sizes 2,10`` takes seconds.
"""
