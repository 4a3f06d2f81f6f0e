"""Moderation: reports of messages (GSI2 ``REPORTS``)."""

from __future__ import annotations

from typing import Any

from cloudchat.models import StoredMessage
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import GSI2, REPORTS, conv_pk, msg_sk, report_index_key, report_sk


class ModerationStore(StoreBase):
    def put_report(self, conversation_id: str, seq: int, message_id: str, reporter: str,
                   reason: str, at: str) -> str:
        """Records a member's report of a message (once per reporter and message).
        Returns "ok" | "duplicate" | "not_member" | "missing"."""

        pk = conv_pk(conversation_id)
        ops = {
            "member": self._member_check(conversation_id, reporter, sees_seq=seq),
            "alive": self._alive_check(conversation_id),
            "message": {"ConditionCheck": {
                "TableName": self.table_name, "Key": self._key(pk, msg_sk(seq)),
                "ConditionExpression": "id = :mid",
                "ExpressionAttributeValues": self._av({":mid": message_id})}},
            "report": {"Put": {
                "TableName": self.table_name,
                "Item": self._av({
                    "PK": pk, "SK": report_sk(seq, reporter), "type": "REPORT",
                    "conversationId": conversation_id, "messageId": message_id, "seq": seq,
                    "reporterId": reporter, "reason": reason, "createdAt": at,
                    "GSI2PK": REPORTS,
                    "GSI2SK": report_index_key(at, conversation_id, seq, reporter)}),
                "ConditionExpression": "attribute_not_exists(PK)"}},
        }
        failed = self._transact(ops)
        if failed is not None:
            if "alive" in failed:
                return "not_member"
            if "member" in failed:  # an item back: a member who joined after the message
                return "missing" if failed["member"] else "not_member"
            if "message" in failed:
                return "missing"
            return "duplicate" if "report" in failed else "retry"
        return "ok"

    def reports(self, limit: int, start: dict[str, str] | None
                ) -> tuple[list[dict[str, Any]], dict[str, StoredMessage], bool]:
        """Reports, newest first, with the reported messages (one query + one batch get)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": GSI2,
            "KeyConditionExpression": "GSI2PK = :p",
            "ExpressionAttributeValues": self._av({":p": REPORTS}),
            "ScanIndexForward": False, "Limit": limit + 1,
        }
        if start:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        resp = self._client().query(**kwargs)
        rows = [self._py(i) for i in resp.get("Items", [])]
        more = len(rows) > limit
        rows = rows[:limit]
        found = self._batch_get([(conv_pk(r["conversationId"]), msg_sk(int(r["seq"]))) for r in rows])
        msgs = {d["id"]: self._seen(d) for d in found.values()}
        return rows, msgs, more

    @staticmethod
    def report_cursor(row: dict[str, Any]) -> dict[str, str]:
        return {k: str(row[k]) for k in ("PK", "SK", "GSI2PK", "GSI2SK")}
