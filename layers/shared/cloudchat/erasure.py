"""The stream consumer's part of account deletion (``deleteAccount``, ``adminDeleteUser``).

Each INSERT or MODIFY record of a deletion job item (``USER#<id>`` / ``DELETION``) runs one
bounded step of the job (:meth:`cloudchat.services.AccountsService.deletion_step`): leave
one conversation (with a SYSTEM message "left", the last owner handing over), or tombstone
one page of the user's messages there when ``eraseMessages`` is on, or, with no membership
left, mark the job DONE. The step ends by moving the job's ``jobStep`` on, conditioned on
the step it read: that update's own stream record starts the next step, and a repeated or
late record finds its step taken and does nothing (at-least-once safe). A step that fails
raises; Lambda retries the record, and re-running the deletion restarts a job that ran out
of retries.
"""

from __future__ import annotations

from cloudchat.services import ChatService
from cloudchat.store import AccountDeletionImage


def run_step(service: ChatService, image: AccountDeletionImage) -> None:
    """One step of the account deletion job the record is about (if still due)."""
    service.deletion_step(image.user_id, image.step)
