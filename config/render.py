"""Printing the effective configuration (secrets hidden) and collecting secret values for log redaction."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from rustyclaw.config.base import Dsn, Secret
from rustyclaw.config.channels import ChannelAccessConfig, ChannelsConfig

REDACTED = "***"
# Free-form settings (plugins.config) have no schema; keys that look like credentials are hidden.
_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|api[_-]?key|credential|private[_-]?key)")


def to_file_dict(model: BaseModel, *, redact: bool = True) -> dict[str, Any]:
    """The model as plain data with the file's (camelCase) keys; paths as strings."""
    result: dict[str, Any] = _plain(model, redact, free_form=False)
    return result


def _plain(value: Any, redact: bool, free_form: bool) -> Any:
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, field in type(value).model_fields.items():
            key = field.alias or name
            if isinstance(value, ChannelAccessConfig) and name == "accounts":
                # An account states only what differs from its channel: shown with every default it
                # would read as disabled and with access rules of its own, which it may not have.
                out[key] = {account: _stated(section, redact) for account, section in value.accounts.items()}
                continue
            # plugins.config is the one free-form mapping in the schema.
            out[key] = _plain(getattr(value, name), redact, free_form or key == "config")
        # Channels registered by other packages live beside the built-in ones, under their names.
        if isinstance(value, ChannelsConfig):
            for key, section in value.registered.items():
                out[key] = _plain(section, redact, free_form)
        return out
    if isinstance(value, Secret):
        return value.redacted() if redact else str(value)
    if isinstance(value, dict):
        return {
            k: REDACTED
            if redact and free_form and isinstance(v, str | int) and _SECRET_KEY.search(str(k))
            else _plain(v, redact, free_form)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v, redact, free_form) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _stated(model: BaseModel, redact: bool) -> dict[str, Any]:
    """The fields the file set, with the file's keys."""
    fields = type(model).model_fields
    return {fields[name].alias or name: _plain(getattr(model, name), redact, False)
            for name in fields if name in model.model_fields_set}


def render_config(cfg: BaseModel, fmt: Literal["yaml", "json"] = "yaml") -> str:
    """The configuration as YAML or JSON text, every secret replaced by `***`."""
    data = to_file_dict(cfg, redact=True)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown format {fmt!r} (yaml or json)")
    from rustyclaw.config.yaml_io import dump_yaml

    return dump_yaml(data)


def secret_values(cfg: BaseModel) -> tuple[str, ...]:
    """Every secret value in the configuration (DSN passwords included), for the log redaction filter."""
    return tuple(dict.fromkeys(v for v in _secrets(cfg, free_form=False) if v))


def _secrets(value: Any, free_form: bool) -> Iterator[str]:
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            key = field.alias or name
            yield from _secrets(getattr(value, name), free_form or key == "config")
    elif isinstance(value, Dsn):
        yield value.password() or ""
    elif isinstance(value, Secret):
        yield str(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if free_form and isinstance(v, str) and _SECRET_KEY.search(str(k)):
                yield v
            else:
                yield from _secrets(v, free_form)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _secrets(v, free_form)
