"""Notifications through SNS: one topic for everyone, the recipient as a message attribute
(subscriptions filter on it, e.g. an email subscription per user, as seed 004's email
notice), plus mobile push to registered device endpoints. Only a short preview ever leaves."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_boto3_sns import SNSClient
    from types_boto3_sns.type_defs import MessageAttributeValueTypeDef


class SnsNotifier:
    def __init__(self, topic_arn: str, sns: Callable[[], SNSClient]) -> None:
        self.topic_arn = topic_arn
        self._sns = sns

    def notify(self, user_id: str, subject: str, text: str, data: dict[str, Any],
               devices: list[str]) -> None:
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
