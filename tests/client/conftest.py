"""The client library against a real local stack: tests.e2e's DevStack, one stack per module."""

from tests.e2e.conftest import stack  # noqa: F401 - the module-scoped local stack fixture
