"""Every key of the table and its indexes: the only place a PK, SK or GSI key string is built.

=====================  ===================  ======================================
item                   PK                   SK
=====================  ===================  ======================================
conversation           CONV#<id>            META
member                 CONV#<id>            MEMBER#<userId>   (GSI1: USER#<userId> / <lastActivity>#<id>)
message                CONV#<id>            MSG#<seq, 12 digits>  (replies: GSI3 THREAD#<id>#<rootId> / seq)
send guard             CONV#<id>            CMID#<senderId>#<clientMessageId>  (seq, payload digest)
audit entry            CONV#<id>            AUDIT#<seq>#<at>#<actorId>
report                 CONV#<id>            REPORT#<seq>#<reporterId>
                                            (GSI2: REPORTS / <at>#<id>#<seq>#<reporterId>)
rate log               USER#<userId>        RATE#<bucket>     (SEND, WRITE: the last N write times)
upload                 CONV#<id>            UPLOAD#<uploadId>  (PENDING, ATTACHED, DELETED with its message)
direct pair guard      DIRECT#<a>#<b>       DIRECT
user profile           USER#<userId>        PROFILE           (GSI2: USERDIR / <name>#<userId>)
email directory entry  USER#<userId>        EMAIL             (GSI2: EMAILDIR / <email>#<userId>)
presence               USER#<userId>        PRESENCE          lastSeen (TTL expiresAt)
push device            USER#<userId>        DEVICE#<hash of its SNS endpoint>
block (one per pair)   USER#<blockerId>     BLOCK#<blockedId>  blockedAt
block set              USER#<userId>        BLOCKS            blocked (a string set, at most MAX_BLOCKS)
search posting         CONV#<id>            SX#<blind token, hex>#<seq, 12 digits>
conversation deletion  DELETED#<id>         DELETION          (audit + purge progress; no content)
notification settings  USER#<userId>        NOTIFY            (e-mail/push on or off, the verified address)
account deletion job   USER#<userId>        DELETION          (progress of deleteAccount's background part)
conversation left      USER#<userId>        LEFT#<conversationId>  (written when they leave or are removed;
                                                                   what account erasure goes through)
large membership       USER#<userId>        LARGE#<conversationId>  (a conversation over
                                            LargeGroupThreshold the user is in: listed at read time)
fan-out state          CONV#<id>            FANOUT            (largeSince; the notification sweep's claim)
online member          CONV#<id>            ONLINE#<userId>   (a large conversation's member seen
                                            lately: until, TTL expiresAt; refreshed from heartbeats)
=====================  ===================  ======================================
"""

from __future__ import annotations

import hashlib

GSI1 = "GSI1"  # a user's conversations by last activity
GSI2 = "GSI2"  # the user directory (by name, by email) and the reports
GSI3 = "GSI3"  # a thread's replies

META = "META"
PROFILE = "PROFILE"
EMAIL = "EMAIL"
PRESENCE = "PRESENCE"
NOTIFY = "NOTIFY"
DIRECT = "DIRECT"
USER_DIRECTORY = "USERDIR"
EMAIL_DIRECTORY = "EMAILDIR"
REPORTS = "REPORTS"
MEMBER_PREFIX = "MEMBER#"
DEVICE_PREFIX = "DEVICE#"
BLOCKS = "BLOCKS"
BLOCK_PREFIX = "BLOCK#"
DELETION = "DELETION"
UPLOAD_PREFIX = "UPLOAD#"
LEFT_PREFIX = "LEFT#"
_MSG_PREFIX = "MSG#"
_USER_PREFIX = "USER#"
MSG_PREFIX = _MSG_PREFIX  # (a partition's messages, for the account-erasure job's Query)


def conv_pk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}"


def member_sk(user_id: str) -> str:
    return f"{MEMBER_PREFIX}{user_id}"


def msg_sk(seq: int) -> str:
    return f"{_MSG_PREFIX}{seq:012d}"


def seq_of_msg_sk(sk: str) -> int:
    """The seq in a message sort key (also GSI3's sort key)."""
    return int(sk.removeprefix(_MSG_PREFIX))


def user_pk(user_id: str) -> str:
    return f"{_USER_PREFIX}{user_id}"


def is_user_pk(pk: str) -> bool:
    return pk.startswith(_USER_PREFIX)


def activity_key(at: str, conversation_id: str) -> str:
    """GSI1's sort key: a member item by its last activity."""
    return f"{at}#{conversation_id}"


def direct_pk(a: str, b: str) -> str:
    lo, hi = sorted((a, b))
    return f"DIRECT#{lo}#{hi}"


def guard_sk(sender_id: str, client_message_id: str) -> str:
    return f"CMID#{sender_id}#{client_message_id}"


def audit_sk(seq: int, at: str, actor_id: str) -> str:
    return f"AUDIT#{seq:012d}#{at}#{actor_id}"


def report_sk(seq: int, reporter_id: str) -> str:
    return f"REPORT#{seq:012d}#{reporter_id}"


def report_index_key(at: str, conversation_id: str, seq: int, reporter_id: str) -> str:
    """GSI2's sort key of a report (under ``REPORTS``): newest last."""
    return f"{at}#{conversation_id}#{seq:012d}#{reporter_id}"


def rate_sk(bucket: str) -> str:
    return f"RATE#{bucket}"


def upload_sk(upload_id: str) -> str:
    return f"{UPLOAD_PREFIX}{upload_id}"


def thread_pk(conversation_id: str, root_id: str) -> str:
    """GSI3's partition key: the replies of one thread root."""
    return f"THREAD#{conversation_id}#{root_id}"


def directory_key(name: str, user_id: str) -> str:
    """GSI2's sort key of a directory entry (display name or email), case-folded."""
    return f"{name.casefold()}#{user_id}"


def device_sk(endpoint_arn: str) -> str:
    return DEVICE_PREFIX + hashlib.sha256(endpoint_arn.encode()).hexdigest()[:32]


def block_sk(blocked_id: str) -> str:
    """The sort key of a block, under the blocker's ``user_pk``."""
    return f"{BLOCK_PREFIX}{blocked_id}"


_SEARCH_PREFIX = "SX#"


def search_sk(token: bytes, seq: int) -> str:
    """A search posting: one blind token (:func:`cloudchat.crypto.blind_token`) of the
    message at ``seq``; a token's postings sort by seq within the conversation."""
    return f"{_SEARCH_PREFIX}{token.hex()}#{seq:012d}"


def search_sk_bounds(token: bytes, after_seq: int, before_seq: int) -> tuple[str, str]:
    """The BETWEEN bounds of a token's postings with ``after_seq < seq < before_seq``."""
    return search_sk(token, after_seq + 1), search_sk(token, max(before_seq - 1, 0))


def seq_of_search_sk(sk: str) -> int:
    return int(sk.rsplit("#", 1)[1])



def deletion_pk(conversation_id: str) -> str:
    """The audit record of a deleted conversation: outside ``CONV#<id>``, so the purge of
    the conversation's items leaves it."""
    return f"DELETED#{conversation_id}"


def left_sk(conversation_id: str) -> str:
    """A conversation the user left (or was removed from), under their ``USER#`` partition."""
    return f"{LEFT_PREFIX}{conversation_id}"


LARGE_PREFIX = "LARGE#"
ONLINE_PREFIX = "ONLINE#"
FANOUT = "FANOUT"


def large_sk(conversation_id: str) -> str:
    """A large conversation the user is a member of, under their ``USER#`` partition."""
    return f"{LARGE_PREFIX}{conversation_id}"


def online_sk(user_id: str) -> str:
    """A member of a large conversation who is online, under its ``CONV#`` partition."""
    return f"{ONLINE_PREFIX}{user_id}"
