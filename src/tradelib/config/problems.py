"""Turn pydantic validation errors into one line per bad key, by dotted path."""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tradelib.errors import ConfigError

_TYPE_NAMES = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_type": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


class InvalidConfigError(ConfigError):
    """Configuration that failed validation; ``problems`` has one line per bad key."""

    def __init__(self, problems: Sequence[str], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        body = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid configuration{where}:\n{body}")


def dotted(loc: Sequence[int | str]) -> str:
    """Return ``('a', 'b', 0, 'c')`` as ``a.b[0].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<top level>"


def suggest(word: str, choices: Sequence[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest choice, or ``''``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _walk(model: type[BaseModel], loc: Sequence[int | str]) -> Any:
    """Return the annotation found by following ``loc`` from ``model``, or None."""
    annotation: Any = model
    for part in loc:
        sub = _model_in(annotation)
        if sub is not None:
            field = sub.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
            continue
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is dict and len(args) == 2:
            annotation = args[1]
        elif origin is list and args:
            annotation = args[0]
        else:
            return None
    return annotation


def _fmt_input(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def describe(error: ErrorDetails, root: type[BaseModel]) -> str:
    """Return one ``dotted.path: problem`` line for a pydantic error."""
    loc = list(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        parent = _model_in(_walk(root, loc[:-1]))
        choices = list(parent.model_fields) if parent else []
        return f"{dotted(loc)}: unknown key {key!r}{suggest(key, choices)}"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
            return f"{dotted(loc)}: unknown key {value!r}{suggest(str(value), allowed)}"
        hint = suggest(str(value), allowed)
        return f"{dotted(loc)}: must be one of {', '.join(allowed)}; got {value!r}{hint}"
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
    path = dotted(loc)
    if kind in _BOUNDS:
        name, symbol = _BOUNDS[kind]
        return f"{path}: must be {symbol} {_fmt_input(ctx.get(name))}, got {_fmt_input(value)}"
    if kind in _TYPE_NAMES:
        return f"{path}: expected {_TYPE_NAMES[kind]}, got {_fmt_input(value)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "value_error":
        text = str(ctx.get("error", error["msg"]))
        if not loc and "." in text.split(" ", 1)[0]:
            return text  # a cross-section rule already names its dotted keys
        # a cross-field rule inside a section starts with the field it is about
        first = text.split(" ", 1)[0]
        model = _model_in(_walk(root, loc))
        if model is not None and first in model.model_fields:
            return f"{dotted([*loc, first])}: {text}"
        return f"{path}: {text}"
    msg = error["msg"]
    return f"{path}: {msg[:1].lower()}{msg[1:]}, got {_fmt_input(value)}"


def problems_of(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """Return one line per error in ``exc``, located relative to ``root``."""
    return [describe(e, root) for e in exc.errors(include_url=False)]
