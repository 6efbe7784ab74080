"""ADK's JSON: sessions and events rendered as ADK's api_server renders them (camelCase,
no None fields, credential secrets redacted, ADK's internal metadata left out), and
events read from request bodies without google-genai's crashes on odd input."""

from __future__ import annotations

import enum
import warnings
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from google.adk.events.event import Event
from google.adk.sessions.session import Session
from google.genai import types
from pydantic import BaseModel, ValidatorFunctionWrapHandler, WrapValidator
from pydantic_core import PydanticCustomError

from .._adk import public_event, public_session, redact_credential_secrets

__all__ = ["EventBody", "PartBody", "event_json", "session_json"]


def session_json(session: Session) -> Any:
    """A session's JSON body."""
    return redact_credential_secrets(
        public_session(session).model_dump(exclude_none=True, by_alias=True, mode="json")
    )


def event_json(event: Event) -> Any:
    """An event's JSON body."""
    return redact_credential_secrets(
        public_event(event).model_dump(exclude_none=True, by_alias=True, mode="json")
    )


# --- request bodies holding ADK events ------------------------------------------------------


def _kinds(annotation: Any) -> tuple[Any, ...]:
    """The alternatives of a Union/Optional annotation (the annotation alone otherwise)."""
    if get_origin(annotation) in (Union, UnionType):
        return tuple(kind for arg in get_args(annotation) for kind in _kinds(arg))
    return (annotation,)


def _misfit(annotation: Any, value: Any, path: str) -> str | None:
    """The path of the first non-string given where a google-genai enum is expected."""
    if value is None:
        return None
    for kind in _kinds(annotation):
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            if not isinstance(value, str):
                return path
        elif isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(value, dict):
            for name, field in kind.model_fields.items():
                for key in {name, field.alias} - {None}:
                    if key in value and (
                        found := _misfit(field.annotation, value[key], f"{path}.{key}")
                    ):
                        return found
        elif get_origin(kind) is list and isinstance(value, list) and get_args(kind):
            for index, item in enumerate(value):
                if found := _misfit(get_args(kind)[0], item, f"{path}[{index}]"):
                    return found
    return None


def _validated(model: type[BaseModel], name: str) -> WrapValidator:
    """ADK's (google-genai's) validation of `model`, with genai's enum crash on a
    non-string made a 422, and (`strict_enums`) a string outside the enum one too.

    google-genai's case-insensitive enums call `.upper()` on what they are given, so a
    number, list or object there raises AttributeError instead of a validation error;
    an unknown string is kept, with a UserWarning.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except (AttributeError, TypeError) as error:
            where = _misfit(model, value, name) or name
            raise PydanticCustomError(
                "enum_type",
                "{where}: expected a string naming one of the enum's values",
                {"where": where},
            ) from error

    return WrapValidator(validate)


def _known_enums(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Refuse what google-genai would keep with a warning: an enum string it does not
    know. Stored, it would come back outside the OpenAPI schema's enum."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validated = handler(value)
    unknown = [str(w.message) for w in caught if " is not a valid " in str(w.message)]
    if unknown:
        raise PydanticCustomError("enum", "{unknown}", {"unknown": unknown[0]})
    return validated


EventBody = Annotated[Event, _validated(Event, "event"), WrapValidator(_known_enums)]
"""An ADK `Event` in a request body: bad input is a 422 naming the field, never a 500;
unknown enum strings too."""

PartBody = Annotated[types.Part, _validated(types.Part, "part"), WrapValidator(_known_enums)]
"""A google-genai `Part` in a request body: a 422 for bad input, unknown enum strings too."""
