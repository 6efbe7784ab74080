"""ADK's JSON: sessions and events rendered as ADK's api_server renders them (camelCase,
no None fields, credential secrets redacted, ADK's internal metadata left out), and
events and Parts read from request bodies without google-genai's crashes on odd input."""

from __future__ import annotations

import enum
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


# What JSON value each scalar annotation takes; pydantic's lax mode would also take
# "yes" or 0.0 for a bool and "1.5" for a float, which the OpenAPI schema does not allow.
_SCALARS: dict[Any, tuple[str, tuple[type, ...]]] = {
    bool: ("a boolean", (bool,)),
    int: ("an integer", (int,)),
    float: ("a number", (int, float)),
    str: ("a string", (str,)),
}


def _expects(kind: Any) -> tuple[str, tuple[type, ...]] | None:
    """What a value for `kind` must be in JSON, when this check knows (None: anything)."""
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "a string naming one of the enum's values", (str,)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return "an object", (dict,)
    if get_origin(kind) is list:
        return "an array", (list,)
    return _SCALARS.get(kind)


def _fits(kind: Any, value: Any) -> bool:
    expected = _expects(kind)
    if expected is None:
        return True
    if isinstance(value, bool) and bool not in expected[1]:
        return False
    return isinstance(value, expected[1])


def _misfit(annotation: Any, value: Any, path: str) -> str | None:
    """Where (and what was expected) the first value of a JSON body fits none of its
    annotation's alternatives; None when every value given fits."""
    if value is None:
        return None
    kinds = tuple(kind for kind in _kinds(annotation) if kind is not type(None))
    if not any(_fits(kind, value) for kind in kinds):
        described = [what for kind in kinds if (what := _expects(kind))]
        return f"{path}: expected {' or '.join(what for what, _types in described)}"
    for kind in kinds:
        if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(value, dict):
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


def _unknown_enum(value: Any, path: str) -> str | None:
    """The path of the first enum value that names none of its enum's members.

    google-genai keeps an unknown string as a made-up member (forward compatibility);
    in a request body it is outside the OpenAPI schema, so it is refused like any other
    value the schema does not allow, instead of being stored and echoed back.
    """
    if isinstance(value, enum.Enum):
        return None if value.name in type(value).__members__ else path
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            if found := _unknown_enum(getattr(value, name), f"{path}.{name}"):
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if found := _unknown_enum(item, f"{path}[{index}]"):
                return found
    return None


def _type_error(problem: str) -> PydanticCustomError:
    return PydanticCustomError("json_type", "{problem}", {"problem": problem})


def _enum_error(where: str) -> PydanticCustomError:
    return _type_error(f"{where}: expected a string naming one of the enum's values")


def _genai_validator(model: type[BaseModel], name: str) -> WrapValidator:
    """ADK's (google-genai's) validation of `model`, with its lax spots made a 422.

    Values of another JSON type than the schema's are refused first (pydantic's lax
    mode takes "yes" for a bool; google-genai's case-insensitive enums call `.upper()`
    on a number and raise AttributeError); an unknown enum string, which genai keeps as
    a made-up member, is refused after.
    """

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, dict) and (problem := _misfit(model, value, name)):
            raise _type_error(problem)
        try:
            validated = handler(value)
        except (AttributeError, TypeError) as error:
            raise _enum_error(name) from error
        if where := _unknown_enum(validated, name):
            raise _enum_error(where)
        return validated

    return WrapValidator(validate)


EventBody = Annotated[Event, _genai_validator(Event, "event")]
"""An ADK `Event` in a request body: bad input is a 422 naming the field, never a 500."""

PartBody = Annotated[types.Part, _genai_validator(types.Part, "part")]
"""A google-genai `Part` in a request body (an artifact): bad input is a 422, as events."""
