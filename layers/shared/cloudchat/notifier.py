"""Notifications through SNS: one topic for everyone, the recipient as a message attribute
(subscriptions filter on it), plus mobile push to registered device endpoints; and e-mail
notices through SES from the deployment's verified sender (``NoticeSender``: see
docs/operations.md and docs/aws-fidelity.md for why SES rather than an SNS e-mail
subscription per user). Only a short preview ever leaves, and e-mail carries no message text
unless the deployment opts in (:mod:`cloudchat.notices`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from cloudchat.dataclass import dataclass

if TYPE_CHECKING:
    from types_boto3_sns import SNSClient
    from types_boto3_sns.type_defs import MessageAttributeValueTypeDef

log = logging.getLogger(__name__)

#: SES answers for one message that retrying cannot fix (the address is suppressed, refused,
#: or, in the SES sandbox, not verified): logged and skipped, the rest of the batch goes on.
REFUSED = frozenset({"MessageRejected", "MailFromDomainNotVerified", "InvalidParameterValue"})


class SesClient(Protocol):
    """The one SES (v1 API) call made: SendEmail."""

    def send_email(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class EmailNotice:
    to: str
    subject: str
    body: str


class SnsNotifier:
    def __init__(self, topic_arn: str | None, sns: Callable[[], SNSClient],
                 sender: str | None = None,
                 ses: Callable[[], SesClient] | None = None) -> None:
        self.topic_arn = topic_arn
        self._sns = sns
        self.sender = sender if ses is not None else None
        self._ses = ses

    def notify(self, user_id: str, subject: str, text: str, data: dict[str, Any],
               devices: list[str], email: EmailNotice | None = None) -> None:
        if self.topic_arn:
            attributes: dict[str, MessageAttributeValueTypeDef] = {
                "recipient": {"DataType": "String", "StringValue": user_id},
                "kind": {"DataType": "String", "StringValue": "message"},
            }
            self._sns().publish(TopicArn=self.topic_arn, Subject=subject[:100], Message=text,
                                MessageAttributes=attributes)
        payload = json.dumps({
            "default": text,
            "APNS": json.dumps({"aps": {"alert": {"title": subject, "body": text}}, **data}),
            "GCM": json.dumps({"notification": {"title": subject, "body": text}, "data": data}),
        })
        for endpoint in devices:
            self._sns().publish(TargetArn=endpoint, Message=payload, MessageStructure="json")
        if email is not None:
            self.mail(user_id, email)

    def mail(self, user_id: str, notice: EmailNotice) -> bool:
        """Sends one e-mail notice (False: SES refused it for good, logged)."""
        from botocore.exceptions import ClientError

        if self.sender is None or self._ses is None:
            return False
        try:
            self._ses().send_email(
                Source=self.sender, Destination={"ToAddresses": [notice.to]},
                Message={"Subject": {"Data": notice.subject, "Charset": "UTF-8"},
                         "Body": {"Text": {"Data": notice.body, "Charset": "UTF-8"}}})
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in REFUSED:
                raise
            log.warning("e-mail notice refused by SES (%s) for user %s", code, user_id)
            return False
        return True
