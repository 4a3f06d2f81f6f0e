"""Media: upload grants (a presigned POST per file), the check of every attachment of a send
against its grant and the object in S3, the objects' lifecycle tag, and download URLs.

Every S3 call of the service is in :class:`MediaBucket`; the rules in :class:`MediaService`
call it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloudchat import ids, validation
from cloudchat.crypto import seal
from cloudchat.errors import AlreadyAttached, BadRequest, Forbidden
from cloudchat.models import Attachment, Caller, Upload, UploadStatus
from cloudchat.services._base import NOT_MEMBER, iso
from cloudchat.services._keys import CryptoService

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import HeadObjectOutputTypeDef

MAX_ATTACHMENTS = 10
UPLOAD_SECONDS = 300
DOWNLOAD_SECONDS = 300
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_PENDING_TAGGING = ("<Tagging><TagSet><Tag><Key>state</Key><Value>pending</Value></Tag>"
                    "</TagSet></Tagging>")


class MediaBucket:
    """The attachments bucket. Without a bucket or an S3 client every use is a BadRequest:
    attachments are not enabled on the deployment."""

    def __init__(self, bucket: str | None, s3: Callable[[], S3Client] | None) -> None:
        self._name = bucket
        self._s3 = s3

    def name(self) -> str:
        if not self._name:
            raise BadRequest("attachments are not enabled on this deployment")
        return self._name

    def client(self) -> S3Client:
        if self._s3 is None:
            raise BadRequest("attachments are not enabled on this deployment")
        return self._s3()

    def presigned_post(self, object_key: str, ctype: str, size: int,
                       uploader: str) -> dict[str, Any]:
        """A POST of exactly this object: size, type and uploader, tagged `pending`."""
        fields = {"Content-Type": ctype, "x-amz-meta-uploader": uploader,
                  "tagging": _PENDING_TAGGING}
        post: dict[str, Any] = self.client().generate_presigned_post(
            Bucket=self.name(), Key=object_key, Fields=fields, ExpiresIn=UPLOAD_SECONDS,
            Conditions=[{"Content-Type": ctype}, ["content-length-range", size, size],
                        {"x-amz-meta-uploader": uploader}, {"tagging": _PENDING_TAGGING}])
        return post

    def head(self, object_key: str) -> HeadObjectOutputTypeDef | None:
        """The object's HeadObject answer; None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            head = self.client().head_object(Bucket=self.name(), Key=object_key)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            if code in ("403", "AccessDenied", "Forbidden"):
                # The role holds s3:ListBucket, so S3 answers a missing key with 404: a
                # 403 is a misconfigured deployment, not bad input. Logged, and masked.
                raise RuntimeError(
                    f"S3 refused HeadObject of {object_key} (403): the function's role "
                    "needs s3:GetObject on the object and s3:ListBucket on the bucket "
                    "(without it S3 answers 403 for a key that does not exist), and no "
                    "bucket or key policy may deny it") from exc
            raise
        return head

    def tag(self, keys: Iterable[str], state: str) -> None:
        """Sets the objects' `state` tag: `pending` ones the bucket's lifecycle rule
        (ExpireUnattachedUploads, template.yaml) deletes a day after their upload."""
        for k in keys:
            self.client().put_object_tagging(
                Bucket=self.name(), Key=k,
                Tagging={"TagSet": [{"Key": "state", "Value": state}]})

    def delete_objects(self, keys: Iterable[str]) -> None:
        """Deletes the objects (one DeleteObject each; an absent key is no error), as the
        purge of a deleted conversation does with its uploads."""
        for k in keys:
            self.client().delete_object(Bucket=self.name(), Key=k)

    def download_url(self, a: Attachment, name: str | None) -> str:
        """Short-lived presigned GET (signed locally: no request). Readers are members:
        every path that returns messages checked membership first."""
        inline = a.content_type in INLINE_TYPES
        params = {"Bucket": self.name(), "Key": a.key,
                  "ResponseContentType": a.content_type,
                  "ResponseContentDisposition": validation.content_disposition(
                      "inline" if inline else "attachment", name or a.id)}
        return str(self.client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=DOWNLOAD_SECONDS))


class MediaService(CryptoService):
    """Upload grants and the checks of a send's attachments (S3 through ``self.media``)."""

    def request_upload(self, caller: Caller, conversation_id: object, file_name: object,
                       content_type: object, size: object) -> dict[str, object]:
        """A presigned POST for one file into the conversation (members only): exact size
        and type, a key under the conversation and uploader, five minutes to use it."""
        cid = ids.require_ulid(conversation_id, "conversationId")
        name = validation.file_name(file_name)
        ctype = validation.content_type(content_type)
        limit = self.settings.max_upload_bytes
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
            raise BadRequest(f"size must be between 1 and {limit} bytes")
        self.media.name()  # (no bucket: BadRequest, before anything else)
        key, kv = self._current_key(cid)
        upload_id = ids.new_id()
        object_key = f"conversations/{cid}/{caller.user_id}/{upload_id}"
        sealed = seal(key, name, conversation_id=cid, message_id=upload_id, key_version=kv)
        now = self.clock()
        expires = datetime.fromtimestamp(now.timestamp() + UPLOAD_SECONDS, UTC)
        if not self.store.put_upload(Upload(
                id=upload_id, conversation_id=cid, uploader_id=caller.user_id, key=object_key,
                content_type=ctype, size=size, created_at=iso(now), sealed_name=sealed,
                expires_at=int(now.timestamp()) + 86400)):
            raise Forbidden(NOT_MEMBER)
        post = self.media.presigned_post(object_key, ctype, size, caller.user_id)
        return {"uploadId": upload_id, "url": post["url"], "fields": post["fields"],
                "key": object_key, "expiresAt": iso(expires), "maxBytes": size}

    def _attachment_ids(self, attachments: object) -> list[str]:
        if attachments is None:
            return []
        if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
            raise BadRequest(f"attachments must be a list of at most {MAX_ATTACHMENTS} upload ids")
        return list(dict.fromkeys(ids.require_ulid(a, "attachment id") for a in attachments))

    def _verified_uploads(self, caller: Caller, cid: str, upload_ids: list[str], key: bytes,
                          kv: int) -> list[Attachment]:
        """moto enforces no POST policy, so every attachment is checked here: the upload was
        granted to the caller in this conversation, the object exists, and it has the size,
        type and uploader the grant named."""
        records = self.store.uploads(cid, upload_ids)
        files = []
        for uid in upload_ids:
            rec = records.get(uid)
            if rec is None or rec.uploader_id != caller.user_id:
                raise BadRequest(f"attachment {uid} is not an upload of yours in this conversation")
            if rec.status is not UploadStatus.PENDING:
                raise AlreadyAttached(uid, rec.message_id)
            head = self.media.head(rec.key)
            if head is None:
                raise BadRequest(f"attachment {uid} was never uploaded")
            if (int(head["ContentLength"]) != rec.size
                    or head.get("ContentType") != rec.content_type
                    or (head.get("Metadata") or {}).get("uploader") != caller.user_id):
                raise BadRequest(f"attachment {uid} does not match its upload grant "
                                 "(size, type or uploader)")
            files.append(rec.attachment())
        return files

    def _mark_attached(self, files: list[Attachment]) -> None:
        """Attached objects lose the `pending` tag, so the lifecycle rule keeps them."""
        self.media.tag([f.key for f in files], "attached")
