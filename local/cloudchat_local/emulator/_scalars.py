"""AppSync's built-in scalars, validated the way AppSync documents them.

* ``AWSDate``      ``YYYY-MM-DD``, optional zone offset (``Z``, ``+hh:mm``, ``+hh:mm:ss``)
* ``AWSTime``      ``hh:mm[:ss[.sss]]``, optional zone offset
* ``AWSDateTime``  ``YYYY-MM-DDThh:mm[:ss[.sss]]`` with a *required* zone offset
* ``AWSTimestamp`` integer seconds since the epoch
* ``AWSEmail``     ``local@domain``
* ``AWSJSON``      a string holding JSON; inputs reach resolvers parsed, outputs are
  serialized to a JSON string
* ``AWSURL``       ``scheme:rest`` with no ``//`` inside the path
* ``AWSPhone``     digits with optional ``+``, spaces, hyphens, dots and parentheses
* ``AWSIPAddress`` IPv4 or IPv6, optionally with a ``/prefix``

Values pass through as the strings clients sent (AppSync does not normalize them).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any, Final

from graphql import (
    GraphQLError,
    GraphQLScalarType,
    IntValueNode,
    StringValueNode,
    ValueNode,
    print_ast,
)

_OFFSET = r"(?P<o>Z|[+-]\d{2}:\d{2}(?::\d{2})?)"
_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
_DATE_RE = re.compile(rf"^(?P<d>{_DATE}){_OFFSET}?$")
_TIME_RE = re.compile(rf"^(?P<t>{_TIME}){_OFFSET}?$")
_DATETIME_RE = re.compile(rf"^(?P<d>{_DATE})T(?P<t>{_TIME}){_OFFSET}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
_PHONE_RE = re.compile(r"^\+?[\d\s().\-]*\d[\d\s().\-]*$")

_TIMESTAMP_MAX: Final = 2**63 - 1


def _valid_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _valid_time(text: str) -> bool:
    hh, mm, *rest = text.split(":")
    if not (0 <= int(hh) <= 23 and 0 <= int(mm) <= 59):
        return False
    return not rest or 0 <= int(rest[0].split(".")[0]) <= 59


def _valid_offset(match: re.Match[str]) -> bool:
    offset = match["o"]
    if not offset or offset == "Z":
        return True
    parts = offset[1:].split(":")
    return int(parts[0]) <= 23 and all(int(p) <= 59 for p in parts[1:])


def is_aws_date(value: str) -> bool:
    m = _DATE_RE.match(value)
    return m is not None and _valid_date(m["d"]) and _valid_offset(m)


def is_aws_time(value: str) -> bool:
    m = _TIME_RE.match(value)
    return m is not None and _valid_time(m["t"]) and _valid_offset(m)


def is_aws_datetime(value: str) -> bool:
    m = _DATETIME_RE.match(value)
    return m is not None and _valid_date(m["d"]) and _valid_time(m["t"]) and _valid_offset(m)


def is_aws_email(value: str) -> bool:
    return bool(_EMAIL_RE.match(value))


def is_aws_url(value: str) -> bool:
    if not _URL_RE.match(value):
        return False
    rest = value.split(":", 1)[1]
    if rest.startswith("//"):
        rest = rest[2:]
        if not rest or rest.startswith("/"):
            return False
        path = "/" + rest.split("/", 1)[1] if "/" in rest else ""
    else:
        path = rest
    return "//" not in path.split("?", 1)[0]


def is_aws_phone(value: str) -> bool:
    digits = sum(ch.isdigit() for ch in value)
    return bool(_PHONE_RE.match(value)) and 3 <= digits <= 20


def is_aws_ip_address(value: str) -> bool:
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _string_scalar(
    name: str, check: Callable[[str], bool], to_output: Callable[[Any], Any] | None = None
) -> dict[str, Any]:
    def coerce_input(value: Any) -> str:
        if not isinstance(value, str) or not check(value):
            raise GraphQLError(f"Unable to parse {_show(value)} as a valid {name}.")
        return value

    def coerce_literal(node: ValueNode, _variables: Any = None) -> str:
        if not isinstance(node, StringValueNode):
            raise ValueError(f"Unable to parse {print_ast(node)} as a valid {name}.")
        return _as_value_error(coerce_input, node.value)

    def coerce_output(value: Any) -> str:
        if to_output is not None:
            value = to_output(value)
        if not isinstance(value, str) or not check(value):
            raise GraphQLError(f"Unable to serialize {_show(value)} as a valid {name}.")
        return value

    return {"input": coerce_input, "literal": coerce_literal, "output": coerce_output}


def _datetime_out(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise GraphQLError(f"Unable to serialize {value!r}: AWSDateTime needs a zone offset.")
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return value


def _date_out(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _time_out(value: Any) -> Any:
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


def _timestamp_scalar() -> dict[str, Any]:
    def coerce_input(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _TIMESTAMP_MAX:
            raise GraphQLError(f"Unable to parse {_show(value)} as a valid AWSTimestamp.")
        return value

    def coerce_literal(node: ValueNode, _variables: Any = None) -> int:
        if not isinstance(node, IntValueNode):
            raise ValueError(f"Unable to parse {print_ast(node)} as a valid AWSTimestamp.")
        return _as_value_error(coerce_input, int(node.value))

    def coerce_output(value: Any) -> int:
        if isinstance(value, dt.datetime):
            return int(value.timestamp())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise GraphQLError(f"Unable to serialize {_show(value)} as a valid AWSTimestamp.")
        return value

    return {"input": coerce_input, "literal": coerce_literal, "output": coerce_output}


def _json_scalar() -> dict[str, Any]:
    def coerce_input(value: Any) -> Any:
        if not isinstance(value, str):
            raise GraphQLError(f"Unable to parse {_show(value)} as a valid AWSJSON.")
        try:
            return json.loads(value)
        except ValueError as exc:
            raise GraphQLError(f"Unable to parse {_show(value)} as a valid AWSJSON.") from exc

    def coerce_literal(node: ValueNode, _variables: Any = None) -> Any:
        if not isinstance(node, StringValueNode):
            raise ValueError(f"Unable to parse {print_ast(node)} as a valid AWSJSON.")
        return _as_value_error(coerce_input, node.value)

    def coerce_output(value: Any) -> str:
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError as exc:
                raise GraphQLError(f"Unable to serialize {_show(value)} as a valid AWSJSON.") from exc
            return value
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise GraphQLError(f"Unable to serialize {_show(value)} as a valid AWSJSON.") from exc

    return {"input": coerce_input, "literal": coerce_literal, "output": coerce_output}


def _as_value_error(coerce: Callable[[Any], Any], value: Any) -> Any:
    """Literal errors must not be GraphQLErrors, so validation locates them on the node."""
    try:
        return coerce(value)
    except GraphQLError as exc:
        raise ValueError(exc.message) from exc


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_SCALARS: Final[dict[str, Callable[[], dict[str, Any]]]] = {
    "AWSDate": lambda: _string_scalar("AWSDate", is_aws_date, _date_out),
    "AWSTime": lambda: _string_scalar("AWSTime", is_aws_time, _time_out),
    "AWSDateTime": lambda: _string_scalar("AWSDateTime", is_aws_datetime, _datetime_out),
    "AWSTimestamp": _timestamp_scalar,
    "AWSEmail": lambda: _string_scalar("AWSEmail", is_aws_email),
    "AWSJSON": _json_scalar,
    "AWSURL": lambda: _string_scalar("AWSURL", is_aws_url),
    "AWSPhone": lambda: _string_scalar("AWSPhone", is_aws_phone),
    "AWSIPAddress": lambda: _string_scalar("AWSIPAddress", is_aws_ip_address),
}

APPSYNC_SCALARS: Final[tuple[str, ...]] = tuple(_SCALARS)


def install_scalar(scalar: GraphQLScalarType) -> None:
    """Gives a scalar built from SDL AppSync's coercion rules (in place)."""
    funcs = _SCALARS[scalar.name]()
    scalar.coerce_output_value = funcs["output"]
    scalar.coerce_input_value = funcs["input"]
    scalar.coerce_input_literal = funcs["literal"]
    # The legacy names, in case any code path still calls them.
    scalar.serialize = funcs["output"]  # type: ignore[method-assign]
    scalar.parse_value = funcs["input"]  # type: ignore[method-assign]
    scalar.parse_literal = funcs["literal"]  # type: ignore[method-assign]
