"""Reactions and edits answer from the message image the container remembers (one request)
instead of reading the message back. These tests drive random interleavings of every kind
of message write from two "containers" (each with its own remembered images) and check
after every step that the answer is exactly what is stored, and that nothing is lost."""

from __future__ import annotations

import random

import pytest

from cloudchat import api, aws
from cloudchat.errors import ChatError
from cloudchat.models import Caller, Message
from cloudchat.services import ChatService
from cloudchat.store import Store
from tests.integration.conftest import USERS, Stack
from tests.integration.test_messages import new_conversation

NAMES = ("alice", "bob", "carol")
EMOJI = ("👍", "🎉", ":tada:")


def caller(name: str) -> Caller:
    return Caller(USERS[name], USERS[name])


def container() -> ChatService:
    svc = api.service()
    return ChatService(Store(svc.store.table_name, aws.dynamodb), svc.keys, svc.tokens,
                       svc.settings)


def stored(cid: str, seq: int) -> Message:
    """The message as the table holds it, read by a container that remembers nothing."""
    fresh = container()
    found = fresh.store.get_message(cid, seq)
    assert found is not None
    return fresh.reveal(found)


@pytest.mark.parametrize("seed", range(4))
def test_answers_are_what_is_stored_under_random_interleavings(stack: Stack, seed: int) -> None:
    rng = random.Random(seed)
    cid = new_conversation(stack, members=[USERS["bob"], USERS["carol"]])
    a, b = container(), container()
    root = a.send_message(caller("alice"), cid, "root", f"cmid-img-{seed}-root")
    reactions: dict[str, set[str]] = {}
    version, body, replies = 1, "root", 0
    for step in range(40):
        svc = rng.choice((a, b))
        who = rng.choice(NAMES)
        op = rng.choice(("add", "add", "remove", "edit", "reply"))
        if op in ("add", "remove"):
            emoji = rng.choice(EMOJI)
            got = svc.react(caller(who), cid, root.id, emoji, add=op == "add")
            users = reactions.setdefault(emoji, set())
            (users.add if op == "add" else users.discard)(USERS[who])
            if not users:
                del reactions[emoji]
        elif op == "edit":
            body = f"edit {step}"
            got = svc.edit_message(caller("alice"), cid, root.id, body, version)
            version += 1
        else:
            svc.send_message(caller(who), cid, f"reply {step}", f"cmid-img-{seed}-{step}",
                             parent_id=root.id)
            replies += 1
            got = stored(cid, root.seq)
        assert got == stored(cid, root.seq), (step, op)
        assert {e: set(u) for e, u in got.reactions.items()} == reactions
        assert (got.body, got.version, got.reply_count) == (body, version, replies)
    # every write moved the revision on: a third container's image is exact too
    c = container()
    assert c.react(caller("carol"), cid, root.id, "👍", add=True) == stored(cid, root.seq)


def test_a_stale_edit_still_loses_with_conflict(stack: Stack) -> None:
    cid = new_conversation(stack, members=[USERS["bob"]])
    a, b = container(), container()
    m = a.send_message(caller("alice"), cid, "v1", "cmid-img-stale-1")
    b.edit_message(caller("alice"), cid, m.id, "v2 from b", 1)
    with pytest.raises(ChatError) as err:
        a.edit_message(caller("alice"), cid, m.id, "v2 from a", 1)  # a's image says version 1
    assert err.value.error_type == "Conflict"
    assert stored(cid, m.seq).body == "v2 from b"
    assert a.edit_message(caller("alice"), cid, m.id, "v3 from a", 2).body == "v3 from a"


def test_deleted_and_removed_are_refused_from_a_remembered_image(stack: Stack) -> None:
    cid = new_conversation(stack, members=[USERS["bob"], USERS["carol"]])
    a, b = container(), container()
    m = a.send_message(caller("alice"), cid, "hello", "cmid-img-del-1")
    a.react(caller("bob"), cid, m.id, "👍", add=True)  # a remembers the message
    b.delete_message(caller("alice"), cid, m.id)
    with pytest.raises(ChatError) as err:
        a.react(caller("carol"), cid, m.id, "👍", add=True)
    assert err.value.error_type == "Conflict"
    m2 = a.send_message(caller("alice"), cid, "second", "cmid-img-del-2")
    b.remove_member(caller("alice"), cid, USERS["carol"])
    with pytest.raises(ChatError) as err:
        a.react(caller("carol"), cid, m2.id, "👍", add=True)  # removed: the image does not help
    assert err.value.error_type == "Forbidden"
    assert stored(cid, m2.seq).reactions == {}


def test_remembered_images_are_bounded(stack: Stack) -> None:
    from cloudchat.store import _Images

    images = _Images(capacity=3)
    for seq in range(1, 6):
        images.put({"conversationId": "c", "seq": seq, "rev": 0})
    assert len(images) == 3 and images.get("c", 1) is None and images.get("c", 5) is not None
    images.put({"conversationId": "c", "seq": 5, "rev": 4})
    images.put({"conversationId": "c", "seq": 5, "rev": 2})  # an older read: ignored
    assert images.get("c", 5) == {"conversationId": "c", "seq": 5, "rev": 4}
    small = _Images(capacity=100, max_bytes=10_000)
    big = [{"ct": b"x" * 4000, "at": "t"}]
    for seq in range(1, 6):
        small.put({"conversationId": "c", "seq": seq, "bodies": big})
    assert len(small) == 2 and small.bytes <= 10_000  # bounded by size as well
    small.drop("c", 5)
    small.drop("c", 4)
    assert (len(small), small.bytes) == (0, 0)
    small.put({"conversationId": "c", "seq": 1, "rev": 1, "bodies": big})
    weighed = small.bytes
    again = {"conversationId": "c", "seq": 1, "rev": 1, "bodies": big}
    small.put(again)  # the same state read again: kept, its weight not counted twice
    assert small.get("c", 1) is again and small.bytes == weighed
    small.put({"conversationId": "c", "seq": 1, "rev": 2, "bodies": [*big, *big]})
    assert small.bytes > weighed  # a newer state is weighed anew
