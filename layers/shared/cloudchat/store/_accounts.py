"""Account deletion: the request's part (the profile made a "Deleted user" marker, the
directory entries and devices gone, presence and rate logs markers, the job recorded: one
transaction) and what
the background job reads and writes (its progress, the user's messages and pending uploads
in one conversation).

The job item (``USER#<id>`` / ``DELETION``) drives the background part through the stream:
each step updates it (``step`` + 1, conditioned on the step it read), and that update's
stream record starts the next step, so every step is bounded and a repeated record finds
its step already taken.
"""

from __future__ import annotations

from typing import Any

from cloudchat.dataclass import dataclass, field
from cloudchat.models import DeletionJob, StoredMessage, Upload, UploadStatus
from cloudchat.store import _codec as codec
from cloudchat.store._base import BATCH_MAX, StoreBase
from cloudchat.store._keys import (
    DELETION,
    DEVICE_PREFIX,
    EMAIL,
    LEFT_PREFIX,
    MSG_PREFIX,
    PRESENCE,
    PROFILE,
    UPLOAD_PREFIX,
    conv_pk,
    left_sk,
    msg_sk,
    rate_sk,
    upload_sk,
    user_pk,
)

DELETED_NAME = "Deleted user"
JOB_TYPE = "DELETION"
RATE_BUCKETS = ("SEND", "WRITE")  # the rate logs of the metered writes (services' Rate buckets)
PRESENCE_GONE = "PRESENCE_GONE"  # the presence marker: heartbeats are refused (not in the stream filter)


def job(d: dict[str, Any]) -> DeletionJob:
    return DeletionJob(user_id=d["userId"], erase=bool(d.get("eraseMessages")), status=d["status"],
                       step=int(d.get("jobStep", 0)), requested_at=d["requestedAt"],
                       requested_by=d["requestedBy"], completed_at=d.get("completedAt"),
                       cursor=d.get("jobCursor"), started_at=d.get("startedAt", d["requestedAt"]))


@dataclass(frozen=True)
class AccountState:
    """What deleting an account reads first (one Query of the user's partition, up to the
    ``LEFT#`` records): its job, its push devices, whether it has an e-mail entry."""

    user_id: str
    job: DeletionJob | None
    endpoints: tuple[str, ...]  # the devices' SNS endpoints
    device_keys: tuple[str, ...] = field(default=(), repr=False)
    has_email: bool = False


class AccountsStore(StoreBase):
    def account_state(self, user_id: str) -> AccountState:
        """The job, devices and e-mail entry of a user: the items that sort before
        ``LEFT#`` (DELETION, DEVICE#..., EMAIL), so the conversations left, however many,
        are not read."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND SK < :left",
            "ExpressionAttributeValues": self._av({":pk": user_pk(user_id), ":left": LEFT_PREFIX})}
        items: list[dict[str, Any]] = []
        while True:
            resp = self._client().query(**kwargs)
            items += [self._py(i) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        devices = [i for i in items if str(i["SK"]).startswith(DEVICE_PREFIX)]
        found = next((i for i in items if i["SK"] == DELETION), None)
        return AccountState(user_id, job(found) if found else None,
                            tuple(str(d["endpointArn"]) for d in devices),
                            tuple(str(d["SK"]) for d in devices),
                            any(i["SK"] == EMAIL for i in items))

    def begin_deletion(self, state: AccountState, erase: bool, by: str, at: str,
                       must_exist: bool) -> DeletionJob | str:
        """One transaction: the profile becomes the deleted marker (name, username, e-mail,
        avatar and directory keys removed), the e-mail entry and device items go, presence
        and the rate logs become markers, and the job is recorded (or, on a re-run,
        restarted: ``jobStep`` + 1 starts the background part again; ``erase`` only ever
        turns on). ``must_exist``: refused ("no_user") unless the profile exists. "moved"
        if the job moved on since ``state`` was read: read again and retry."""
        user_id = state.user_id
        pk = user_pk(user_id)
        profile: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(pk, PROFILE),
            "UpdateExpression": "SET #t = :user, id = :id, displayName = :name, "
                                "createdAt = if_not_exists(createdAt, :at), "
                                "deletedAt = if_not_exists(deletedAt, :at) "
                                "REMOVE username, email, avatarKey, GSI2PK, GSI2SK",
            "ExpressionAttributeNames": {"#t": "type"},
            "ExpressionAttributeValues": self._av({":user": "USER", ":id": user_id,
                                                   ":name": DELETED_NAME, ":at": at})}
        if must_exist:
            profile["ConditionExpression"] = "attribute_exists(PK)"
        ops: dict[str, dict[str, Any]] = {
            "profile": {"Update": profile},
            "presence": {"Put": {"TableName": self.table_name, "Item": self._av({
                "PK": pk, "SK": PRESENCE, "type": PRESENCE_GONE, "userId": user_id,
                "deletedAt": at})}},
        }
        # the rate logs of sends and conversation changes become markers that refuse those
        # writes in their own transactions (and no longer expire)
        for bucket in RATE_BUCKETS:
            ops[f"rate:{bucket}"] = {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, rate_sk(bucket)),
                "UpdateExpression": "SET deletedAt = :at REMOVE expiresAt",
                "ExpressionAttributeValues": self._av({":at": at})}}
        if state.has_email:
            ops["email"] = {"Delete": {"TableName": self.table_name, "Key": self._key(pk, EMAIL)}}
        room = BATCH_MAX - len(ops) - 1  # (the job)
        for sk in state.device_keys[room:]:  # more devices than one transaction holds
            self._client().delete_item(TableName=self.table_name, Key=self._key(pk, sk))
        for sk in state.device_keys[:room]:
            ops[f"device:{sk}"] = {"Delete": {"TableName": self.table_name, "Key": self._key(pk, sk)}}
        old = state.job
        if old is None:
            record = {"PK": pk, "SK": DELETION, "type": JOB_TYPE, "userId": user_id,
                      "eraseMessages": erase, "status": "RUNNING", "jobStep": 0, "requestedAt": at,
                      "requestedBy": by, "startedAt": at}
            ops["job"] = {"Put": {"TableName": self.table_name, "Item": self._av(record),
                                  "ConditionExpression": "attribute_not_exists(PK)"}}
            new = job(record)
        else:
            new = DeletionJob(user_id, old.erase or erase, "RUNNING", old.step + 1,
                              old.requested_at, old.requested_by, None, old.cursor, at)
            ops["job"] = {"Update": {
                "TableName": self.table_name, "Key": self._key(pk, DELETION),
                "ConditionExpression": "jobStep = :old",
                "UpdateExpression": "SET #s = :running, jobStep = :new, eraseMessages = :erase, "
                                    "startedAt = :at REMOVE completedAt",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": self._av({
                    ":old": old.step, ":new": new.step, ":running": "RUNNING",
                    ":erase": new.erase, ":at": at})}}
        failed = self._transact(ops)
        if failed is None:
            return new
        return "no_user" if "profile" in failed else "moved"

    def deletion_job(self, user_id: str) -> DeletionJob | None:
        resp = self._client().get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key=self._key(user_pk(user_id), DELETION))
        item = resp.get("Item")
        return job(self._py(item)) if item else None

    def advance_job(self, current: DeletionJob, cursor: dict[str, Any] | None,
                    done_at: str | None = None) -> bool:
        """Moves the job one step on (or marks it DONE), if nobody moved it since it was
        read. False when the step was taken already (a repeated stream record)."""

        sets = ["jobStep = :next"]
        removes: list[str] = []
        values: dict[str, Any] = {":step": current.step, ":next": current.step + 1}
        if cursor is None:
            removes.append("jobCursor")
        else:
            sets.append("jobCursor = :cursor")
            values[":cursor"] = cursor
        names: dict[str, str] = {}
        if done_at is not None:
            sets += ["#s = :done", "completedAt = :at"]
            names["#s"] = "status"
            values.update({":done": "DONE", ":at": done_at})
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "Key": self._key(user_pk(current.user_id), DELETION),
            "ConditionExpression": "jobStep = :step",
            "UpdateExpression": "SET " + ", ".join(sets)
                                + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ExpressionAttributeValues": self._av(values)}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return self._update_if(**kwargs)

    def sent_messages(self, conversation_id: str, sender_id: str, after_seq: int, limit: int
                      ) -> tuple[list[StoredMessage], int | None]:
        """One page of the conversation's messages (``limit`` items evaluated, from seq
        ``after_seq`` + 1), the sender's among them that are not deleted yet; and the last
        seq evaluated when more follow (None at the end). A background Query of the
        partition: bounded per call, no index needed (see docs/security.md)."""
        resp = self._client().query(
            TableName=self.table_name, ConsistentRead=True, Limit=limit,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :from AND :to",
            FilterExpression="senderId = :s AND attribute_not_exists(deletedAt) AND #kind <> :sys",
            ExpressionAttributeNames={"#kind": "kind"},
            ExpressionAttributeValues=self._av({
                ":pk": conv_pk(conversation_id), ":from": msg_sk(after_seq + 1),
                ":to": MSG_PREFIX + "9" * 12, ":s": sender_id, ":sys": "SYSTEM"}))
        found = [self._seen(self._py(i)) for i in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        return found, (int(str(last["SK"]["S"]).removeprefix(MSG_PREFIX)) if last else None)

    def pending_uploads_of(self, conversation_id: str, uploader_id: str) -> list[Upload]:
        """The uploader's PENDING upload grants in a conversation (background Query)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "ConsistentRead": True,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :u)",
            "FilterExpression": "uploaderId = :who AND #s = :pending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": self._av({
                ":pk": conv_pk(conversation_id), ":u": UPLOAD_PREFIX, ":who": uploader_id,
                ":pending": UploadStatus.PENDING.value})}
        out: list[Upload] = []
        while True:
            resp = self._client().query(**kwargs)
            out += [codec.upload(self._py(i)) for i in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def drop_upload(self, upload: Upload) -> None:
        """Deletes a pending upload grant (not one a message claimed meanwhile)."""
        from botocore.exceptions import ClientError

        try:
            self._client().delete_item(
                TableName=self.table_name,
                Key=self._key(conv_pk(upload.conversation_id), upload_sk(upload.id)),
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self._av({":pending": UploadStatus.PENDING.value}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def left_conversation(self, user_id: str) -> str | None:
        """One conversation the user left whose messages are still to erase (or None)."""
        resp = self._client().query(
            TableName=self.table_name, ConsistentRead=True, Limit=1,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :left)",
            ExpressionAttributeValues=self._av({":pk": user_pk(user_id), ":left": LEFT_PREFIX}))
        items = resp.get("Items", [])
        return str(self._py(items[0])["conversationId"]) if items else None

    def forget_left(self, user_id: str, conversation_id: str) -> None:
        """The conversation's messages are erased: off the list."""
        self._client().delete_item(TableName=self.table_name,
                                   Key=self._key(user_pk(user_id), left_sk(conversation_id)))
