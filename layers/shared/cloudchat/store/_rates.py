"""Per-user rate logs: one fixed conditional write, put in the metered write's own transaction."""

from __future__ import annotations

from typing import Any

from cloudchat.dataclass import dataclass
from cloudchat.errors import AccountGone, RateExceeded
from cloudchat.store._base import StoreBase
from cloudchat.store._keys import rate_sk, user_pk

RATE_LOG_SLOTS = 120  # write times a rate log keeps (the UpdateExpression grows with it)


@dataclass(frozen=True)
class Rate:
    """A per-user sliding-window limit: at most ``per_minute`` writes of ``bucket`` in any
    60 seconds. The log keeps the last ``slots`` write times, oldest first; a write is
    accepted when the oldest is at least ``window_ms`` old. Exact when ``per_minute`` <=
    RATE_LOG_SLOTS; above it, at most ``slots`` in any ``window_ms`` (60 s scaled down)."""

    bucket: str
    per_minute: int
    now_ms: int

    @property
    def slots(self) -> int:
        return max(1, min(self.per_minute, RATE_LOG_SLOTS))

    @property
    def window_ms(self) -> int:
        return 60_000 * self.slots // max(1, self.per_minute)

    def retry_after(self, old: dict[str, Any]) -> int:
        """Whole seconds until the refused write would be accepted, from the log's old image."""
        oldest = int(old.get("t0", 0))
        return max(1, -(-(oldest + self.window_ms - self.now_ms) // 1000))


class RatesStore(StoreBase):
    def _rate_op(self, user_id: str, rate: Rate) -> dict[str, Any]:
        """The update of a user's rate log for one more write: accepted when the oldest of
        the last ``rate.slots`` write times is at least ``rate.window_ms`` old; the log
        shifts by one (t0 oldest .. t{n-1} newest). One fixed conditional write, so it goes
        into the write's own transaction; refused, it returns the log (ALL_OLD) for the
        exact retry-after. The log records its length (``slots``): a log kept for another
        limit (the setting changed) does not refuse (its t0 is not the oldest of the last
        ``rate.slots`` writes); it is laid out anew for this one."""
        n = rate.slots
        shifts = [f"t{i} = if_not_exists(t{i + 1}, :z)" for i in range(n - 1)]
        return {"Update": {
            "TableName": self.table_name,
            "Key": self._key(user_pk(user_id), rate_sk(rate.bucket)),
            # (a deleted account's log is a marker, deletedAt, that refuses every write)
            "ConditionExpression": "attribute_not_exists(deletedAt) AND ("
                                   "attribute_not_exists(t0) OR t0 <= :cutoff "
                                   "OR attribute_not_exists(slots) OR slots <> :slots)",
            "UpdateExpression": "SET " + ", ".join([*shifts, f"t{n - 1} = :now",
                                                    "slots = :slots", "expiresAt = :exp"]),
            "ExpressionAttributeValues": self._av({
                ":slots": n,
                ":z": 0, ":cutoff": rate.now_ms - rate.window_ms, ":now": rate.now_ms,
                ":exp": (rate.now_ms + rate.window_ms) // 1000 + 60}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }}
    def _raise_if_rate(self, exc: Any, rate: Rate | None) -> None:
        """Raises RateExceeded when a transaction whose first item is ``rate``'s log was
        cancelled by that item's condition."""
        reasons = exc.response.get("CancellationReasons") or []
        if rate is not None and reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise RateExceeded(self._rate_refusal(rate, self._py(reasons[0].get("Item") or {}))) from exc

    @staticmethod
    def _rate_refusal(rate: Rate, old: dict[str, Any]) -> int:
        """The retry-after of a write the rate log refused; AccountGone if the log is a
        deleted account's marker."""
        if "deletedAt" in old:
            raise AccountGone
        return rate.retry_after(old)
