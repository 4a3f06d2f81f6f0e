"""Cognito PostConfirmation trigger: every confirmed user gets a profile. (moto never runs
triggers; the same code also creates a missing profile on a user's first request.)"""

from typing import Any

from cloudchat import api


@api.logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event.get("request") or {}
    attributes = request.get("userAttributes") or {}
    sub = attributes.get("sub")
    if event.get("triggerSource", "").startswith("PostConfirmation_") and sub:
        api.service().create_profile(sub, attributes, event.get("userName"))
    return event  # Cognito requires the event back
