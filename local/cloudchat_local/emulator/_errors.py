"""The emulator's exception tree.

Errors raised to the code that configures or starts the emulator::

    EmulatorError
    ├── ConfigError        the configuration cannot work (bad wiring, missing state dir, ...)
    │   └── SchemaError    the schema file does not parse or is not a valid AppSync schema
    └── PortInUseError     the requested port is already bound by another process

Errors a *client* sees (401s, GraphQL errors, error frames) are never raised to the caller;
they are rendered as AppSync renders them.
"""

from __future__ import annotations


class EmulatorError(Exception):
    """Base class of every error the emulator raises to its caller."""


class ConfigError(EmulatorError):
    """The emulator was configured in a way that cannot work."""


class SchemaError(ConfigError):
    """The schema file does not parse, or is not a valid AppSync schema."""


class PortInUseError(EmulatorError):
    """The requested host/port is already in use."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"Cannot listen on {host}:{port}: the port is already in use. Stop the process "
            f"using it, or choose another port (0 picks a free one)."
        )
        self.host = host
        self.port = port
