"""The Lambda context a benchmark hands a resolver's handler when it calls it in-process
(bench.handler, bench.scale): what Powertools reads of it (tests keep their own copy in
tests/integration/conftest.py: bench does not import tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    function_name: str = "cloudchat-bench"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cloudchat-bench"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
