"""Test-wide environment: fake AWS credentials and a fixed region, so nothing can reach AWS."""

import os

for _k, _v in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "cloudchat",
    "POWERTOOLS_METRICS_NAMESPACE": "CloudChat",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    # botocore >= 1.37 sends DynamoDB (Streams) calls to account-based endpoints
    # (<account>.streams-ddb...), which moto's in-process mock does not route.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}.items():
    os.environ[_k] = _v
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)
