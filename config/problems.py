"""Turns pydantic's validation errors into one line per problem, in the file's own key spelling.

Each error's location is walked through the schema, so union tags and similar pydantic internals
drop out of the key path, unknown keys get the nearest valid key, and secret values are never echoed.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from rustyclaw.config.base import ProblemsError, Secret
from rustyclaw.config.openclaw_names import openclaw_hint


def _is_secret(metadata: list[Any]) -> bool:
    for item in metadata:
        func = getattr(item, "func", None)
        if isinstance(func, type) and issubclass(func, Secret):
            return True
    return False


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """Strip Annotated and Optional; report whether a Secret validator was attached."""
    secret = False
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            secret = secret or _is_secret(list(tp.__metadata__))
            tp = typing.get_args(tp)[0]
            continue
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, secret


class _Step(typing.NamedTuple):
    keys: list[str]  # the path so far, file spelling
    model: type[BaseModel] | None  # the model whose keys the last element was looked up in
    secret: bool


def _walk(root: type[BaseModel], loc: tuple[str | int, ...]) -> _Step:
    keys: list[str] = []
    tp: Any = root
    parent: type[BaseModel] | None = None
    secret = False
    for element in loc:
        tp, secret_here = _unwrap(tp)
        secret = secret or secret_here
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            parent = tp
            field = next((f for name, f in tp.model_fields.items() if element in (name, f.alias)), None)
            keys.append(str(field.alias or element) if field else str(element))
            if field is None:
                return _Step(keys, parent, secret)
            secret = secret or _is_secret(field.metadata)
            tp = field.annotation
        elif origin is dict:
            parent = None
            if element == "[key]":
                return _Step(keys, parent, secret)
            keys.append(str(element))
            tp = typing.get_args(tp)[1]
        elif origin is list:
            parent = None
            keys.append(str(element))
            tp = typing.get_args(tp)[0]
        else:
            break  # pydantic's union/function tags below a leaf
    return _Step(keys, parent, secret or _unwrap(tp)[1])


def _short(value: Any, hidden: Mapping[str, str]) -> str:
    # Values from ${VAR} are replaced before cutting, so no prefix of a secret survives the cut.
    text = _hide(repr(value), hidden)
    return text if len(text) <= 80 else text[:77] + "..."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def describe(
    root: type[BaseModel], exc: ValidationError, hidden: Mapping[str, str] | None = None
) -> Iterator[str]:
    """One message per problem, each starting with the key path as the file spells it.

    `hidden` maps values substituted from `${VAR}` to their variable: they are shown as `${VAR}`.
    """
    for problem in _describe(root, exc, hidden or {}):
        yield _hide(problem, hidden or {})


def _describe(root: type[BaseModel], exc: ValidationError, hidden: Mapping[str, str]) -> Iterator[str]:
    for error in exc.errors():
        loc = tuple(error["loc"])
        kind = error["type"]
        ctx = error.get("ctx") or {}
        cause = ctx.get("error")
        if isinstance(cause, ProblemsError):
            base = _walk(root, loc).keys
            for sub, message in cause.problems:
                yield f"{'.'.join([*base, sub] if sub else base) or '<top level>'}: {message}"
            continue
        if kind == "extra_forbidden":
            step = _walk(root, loc)
            unknown = str(loc[-1])
            hint = openclaw_hint(step.keys)  # an OpenClaw spelling: name the RustyClaw key
            yield f"unknown key '{'.'.join(step.keys)}'" + (f": {hint}" if hint else _suggestion(step.model, unknown))
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping key outside its allowed set
            where = ".".join(_walk(root, loc[:-2]).keys) or "<top level>"
            yield f"{where}: key {loc[-2]!r} is not allowed; {_lower_first(message)}"
            continue
        step = _walk(root, loc)
        where = ".".join(step.keys) or "<top level>"
        if kind == "missing":
            yield f"{where}: required key is missing"
        elif step.secret:
            yield f"{where}: {_lower_first(message)}"
        else:
            yield f"{where}: got {_short(error['input'], hidden)}; {_lower_first(message)}"


def _suggestion(model: type[BaseModel] | None, unknown: str) -> str:
    if model is None:
        return ""
    valid = [f.alias or name for name, f in model.model_fields.items()]
    close = difflib.get_close_matches(unknown, valid, n=1, cutoff=0.6)
    if not close:
        close = [v for v in valid if v.lower() == unknown.lower().replace("_", "")]
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (valid keys: {', '.join(valid)})"



def _hide(text: str, hidden: Mapping[str, str]) -> str:
    """`text` with every substituted value replaced by `${VAR}`, longest values first.

    Values under 4 characters are left: they are no secret, and replacing them would garble text.
    """
    for value in sorted(hidden, key=len, reverse=True):
        if len(value) >= 4 and value in text:
            text = text.replace(value, "${" + hidden[value] + "}")
    return text
