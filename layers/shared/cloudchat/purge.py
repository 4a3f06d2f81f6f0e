"""The purge of a deleted conversation's items, run by the stream consumer
(:mod:`cloudchat.fanout`) off the request path.

deleteConversation destroyed the data keys in its own transaction (nothing left in the table
can be decrypted); the purge then removes what is left under ``CONV#<id>``. It is driven by
the stream records of the conversation's audit record (``DELETED#<id>``): its INSERT starts
step 0, and each step ends by moving the record's ``purgeStep`` on (a conditional write),
whose MODIFY record starts the next step, until a step finds nothing more and records
``purgedAt``. So:

* **bounded**: a step reads one page of at most :data:`PURGE_PAGE` items, deletes their S3
  objects (uploads) and then the items (BatchWriteItem, 25 a request);
* **idempotent and at-least-once safe**: a step first confirms, with a strongly consistent
  read, that the record is still at that step (a repeated or stale record does nothing; a
  record of a transaction that never committed finds no audit record), deleting what is
  already gone is a no-op, and only one of two concurrent runs of a step can move it on;
* **resumable**: a step that fails is retried by Lambda from its record; nothing is marked
  done before it is done.
"""

from __future__ import annotations

from cloudchat.services import ChatService, iso
from cloudchat.store import DeletionImage

PURGE_PAGE = 100  # items per step: 1 Query, 4 BatchWriteItem, the S3 deletes of its uploads


class Purge:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.store = service.store

    def step(self, image: DeletionImage) -> bool:
        """Runs the step the record names, if it is still due. True if it ran."""
        if image.purged:
            return False
        cid = image.conversation_id
        self.service.keys.forget(cid)
        record = self.store.deletion(cid)
        if record is None or record.purged_at is not None or record.purge_step != image.purge_step:
            return False
        page = self.store.purge_page(cid, PURGE_PAGE)
        if page.object_keys:
            self.service.media.delete_objects(page.object_keys)
        self.store.delete_keys(page.keys)
        done = not page.more or not page.keys
        return self.store.advance_purge(cid, image.purge_step, len(page.keys),
                                        iso(self.service.clock()) if done else None)
