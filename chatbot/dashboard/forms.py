"""Form posts validated with the API's own pydantic models, errors mapped to form fields."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chatbot.errors import ApiError

ModelT = TypeVar("ModelT", bound=BaseModel)
FORM_ERROR = "form"  # errors of the whole form, shown above it


class FormErrors(Exception):
    """The form is refused: a message per form field (or FORM_ERROR for the whole form)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {text}" for name, text in errors.items()))
        self.errors = dict(errors)


def _message(issue: Mapping[str, Any]) -> str:
    text = str(issue["msg"]).removeprefix("Value error, ")
    return text[:1].upper() + text[1:]


def _form_field(
    path: Sequence[str], fields: Collection[str], aliases: Mapping[str, str] | None
) -> str:
    """The form field named by the deepest known part of an error's path, else the form's."""
    for part in reversed(path):
        part = (aliases or {}).get(part, part)
        if part in fields:
            return part
    return FORM_ERROR


def field_errors(
    error: ValidationError, fields: Collection[str], aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The first message for each form field, found by the deepest known name in its path."""
    found: dict[str, str] = {}
    for issue in error.errors(include_url=False):
        path = [str(part) for part in issue["loc"]]
        found.setdefault(_form_field(path, fields, aliases), _message(issue))
    return found


def api_errors(
    error: ApiError, fields: Collection[str], aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An action's refusal as form errors: each field it names, or its message for the form."""
    named = error.details.get("fields") or [{"field": "", "message": error.message}]
    found: dict[str, str] = {}
    for item in named:
        text = str(item["message"])
        name = _form_field(str(item["field"]).split("."), fields, aliases)
        found.setdefault(name, text[:1].upper() + text[1:] + ".")
    return found


def validate_form(
    model: type[ModelT],
    data: Mapping[str, Any],
    fields: Collection[str],
    aliases: Mapping[str, str] | None = None,
) -> ModelT:
    """`model` made from `data`, or FormErrors naming the form's fields."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise FormErrors(field_errors(exc, fields, aliases)) from None


def lines(text: str) -> list[str]:
    """A textarea's non-empty lines, trimmed (one origin per line, say)."""
    return [line.strip() for line in text.splitlines() if line.strip()]
