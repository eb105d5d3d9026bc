"""Field types whose JSON schema says exactly what their validation accepts.

The OpenAPI document is a promise: a value its schema allows is accepted, one it forbids is
refused (schemathesis checks both). pydantic's own constraints keep that promise; a custom check
does not, unless its rule is written into the schema too. Use these instead of bare validators:

- `Text()`: text checked as sent (lengths, no NUL, not blank), then stripped;
- `Rule(convert, schema)`: a friendly check whose `schema` describes the same strings;
- `omitted()` and `NOT_NULL`: a field that may be left out but is never null when sent;
- `Rfc3339()`: a date and time exactly as JSON Schema's `date-time` format reads it;
- `JSON_INTEGER`: an integer as JSON Schema counts them (5.0 is one).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import BeforeValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# What str.strip() removes: every character for which str.isspace() is true.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WHITESPACE_CLASS = "".join(f"\\u{ord(char):04x}" for char in WHITESPACE)
# Spelled with \uXXXX escapes, which ECMA, Python and Rust regular expressions read alike.
NO_NUL_PATTERN = "^[^\\u0000]*$"
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{_WHITESPACE_CLASS}][^\\u0000]*$"


@dataclass(frozen=True, slots=True)
class Text:
    """Text checked as sent, then stripped of surrounding whitespace.

    Put length constraints before it (`Annotated[str, Field(max_length=...), Text()]`): they
    count the text as sent, as the schema's `maxLength` does. NUL characters (which PostgreSQL
    cannot store) are refused, and so is blank text unless `blank` allows it.
    """

    blank: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = text_pattern(blank=self.blank)
        return json_schema

    def _check(self, value: str) -> str:
        if problem := text_problem(value, blank=self.blank):
            raise ValueError(problem)
        return value.strip()


def text_pattern(*, blank: bool = False) -> str:
    """The JSON schema `pattern` of what `text_problem` accepts."""
    return NO_NUL_PATTERN if blank else NOT_BLANK_PATTERN


def text_problem(value: str, *, blank: bool = False) -> str | None:
    """Why `value` is not storable text (None when it is): NUL, blank, a lone surrogate."""
    if "\x00" in value:
        return "cannot contain NUL characters (\\u0000)"
    if not blank and not value.strip():
        return "cannot be blank: write some text"
    if not storable(value):
        return "is not valid Unicode text (it holds a lone surrogate)"
    return None


def storable(value: str) -> bool:
    """Whether the text encodes as UTF-8 (JSON's `\\ud800` escapes can make text that does not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True, eq=False)  # compared (and hashed) by identity
class Rule:
    """A value checked by `convert` (the value to keep, or ValueError saying why not).

    `schema` (e.g. a `pattern`) is added to the field's JSON schema: it must describe exactly
    the strings `convert` accepts, which the tests of each rule check.
    """

    convert: Callable[[Any], Any]
    schema: Mapping[str, Any] = field(default_factory=dict)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.convert, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(self.schema)
        return json_schema


def _not_null_schema(schema: dict[str, Any]) -> None:
    schema.pop("default", None)
    branches = schema.pop("anyOf", None)
    if branches is None:
        return
    kept = [branch for branch in branches if branch != {"type": "null"}]
    if len(kept) == 1:
        for key, value in kept[0].items():
            schema.setdefault(key, value)
    else:
        schema["anyOf"] = kept


def omitted(description: str | None = None) -> Any:
    """The default (None) of a field that may be left out but is never null when sent.

    Type the field `Annotated[X | None, NOT_NULL]`: a sent null is refused, and the schema shows
    `X` alone, with no `null` default a client could copy.
    """
    return Field(default=None, description=description, json_schema_extra=_not_null_schema)


def _refuse_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


NOT_NULL = BeforeValidator(_refuse_null)


def _json_integer(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer (a number without a fraction); strict ints do not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Put on an `int` read from JSON: 5.0 is taken as 5, while true and "5" stay refused.
JSON_INTEGER = BeforeValidator(_json_integer)


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
RFC3339_EXAMPLE = "2026-01-02T03:04:05Z"


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if calendar.isleap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time (offset required) in UTC; ValueError when it is not one.

    Accepts what JSON Schema's `date-time` format accepts, leap seconds included (read as the
    last microsecond of their minute); years beyond what Python holds become its limits.
    """
    match = _RFC3339.fullmatch(value)
    problem = f"{value!r} is not a date and time: use RFC 3339, like {RFC3339_EXAMPLE}"
    if match is None:
        raise ValueError(problem)
    year, month, day, hour, minute, second = (int(part) for part in match.group(*range(1, 7)))
    fraction, sign = match.group(7), match.group(8)
    offset = 0
    if sign is not None:
        offset_hours, offset_minutes = int(match.group(9)), int(match.group(10))
        if offset_hours > 23 or offset_minutes > 59:
            raise ValueError(problem)
        offset = (offset_hours * 60 + offset_minutes) * (-1 if sign == "-" else 1)
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        raise ValueError(problem)
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(problem)
    microsecond = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if second == 60:  # a leap second exists only as 23:59:60 in UTC
        if (hour * 60 + minute - offset) % 1440 != 1439:
            raise ValueError(problem)
        second, microsecond = 59, 999_999
    try:
        moment = datetime(
            year, month, day, hour, minute, second, microsecond, timezone(timedelta(minutes=offset))
        )
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # year 0, or past year 9999 once in UTC
        return (datetime.min if year <= 1 else datetime.max).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Rfc3339:
    """A `datetime` sent as an RFC 3339 string, documented as `format: date-time`."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _to_datetime, json_schema_input_schema=core_schema.str_schema()
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time"}


def _to_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"send a date and time as text, like {RFC3339_EXAMPLE}")
    return parse_rfc3339(value)
