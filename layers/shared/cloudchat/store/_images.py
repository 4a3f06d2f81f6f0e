"""The image cache: the latest message item images this container has seen."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from cloudchat.store._codec import REACTION_PREFIX

REMEMBERED_MESSAGES = 2048  # message images kept per container ...
REMEMBERED_BYTES = 8 * 1024 * 1024  # ... and their approximate size, at most


class _Images:
    """The latest message item images this container has seen, by (conversation, seq),
    least recently used dropped first. An image is a whole item as read (attribute name to
    Python value); its ``rev`` says which state of the item it is. Thread-safe (the local
    stack runs handlers on threads)."""

    def __init__(self, capacity: int = REMEMBERED_MESSAGES,
                 max_bytes: int = REMEMBERED_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, int], tuple[dict[str, Any], int]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _weight(image: dict[str, Any]) -> int:
        """Roughly the bytes an image holds: its ciphertexts, reactions and a fixed part."""
        bodies = sum(len(bytes(b.get("ct") or b"")) + 64 for b in image.get("bodies") or ())
        reactions = sum(40 * len(v) for k, v in image.items() if k.startswith(REACTION_PREFIX))
        return 512 + bodies + reactions

    def put(self, image: dict[str, Any]) -> None:
        key = (str(image["conversationId"]), int(image["seq"]))
        with self._lock:
            known = self._items.get(key)
            if known is not None and rev(known[0]) == rev(image):
                # the same state of the item (a page read again): its weight is known
                self._items[key] = (image, known[1])
                self._items.move_to_end(key)
                return
        weight = self._weight(image)
        with self._lock:
            known = self._items.get(key)
            if known is not None:
                if rev(known[0]) > rev(image):
                    return  # an older (eventually consistent) read never replaces a newer image
                self.bytes -= known[1]
            self._items[key] = (image, weight)
            self._items.move_to_end(key)
            self.bytes += weight
            while self._items and (len(self._items) > self.capacity
                                   or self.bytes > self.max_bytes):
                self.bytes -= self._items.popitem(last=False)[1][1]

    def get(self, conversation_id: str, seq: int) -> dict[str, Any] | None:
        with self._lock:
            entry = self._items.get((conversation_id, seq))
            if entry is None:
                return None
            self._items.move_to_end((conversation_id, seq))
            return entry[0]

    def drop(self, conversation_id: str, seq: int) -> None:
        with self._lock:
            entry = self._items.pop((conversation_id, seq), None)
            if entry is not None:
                self.bytes -= entry[1]

    def __len__(self) -> int:
        return len(self._items)


def rev(image: dict[str, Any]) -> int:
    return int(image.get("rev", 0))
