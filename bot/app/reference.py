"""The configuration reference, rendered from the ``Settings`` model itself, so that the page an
operator reads cannot drift from what start-up accepts: every variable, its type, default, range
and description. The docs build writes it (``docs/hooks.py``); a test holds every field to having
a description."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.app.settings import Settings

# The first field of each section, in the order ``Settings`` declares them; a field belongs to the
# section of the nearest one above it, so a new field needs no entry here.
SECTIONS = {
    "discord_token": "Discord",
    "data_dir": "Storage",
    "model": "Models",
    "ip_adapter": "Adapters",
    "controlnet_canny": "Structure and /describe",
    "lora_dir": "LoRAs and embeddings",
    "face_backend": "Faces",
    "default_steps": "Job defaults and limits",
    "log_level": "Logging",
    "workers": "Workers (Ray)",
    "api_port": "HTTP API",
    "metrics_key": "Metrics",
}


def variable(name: str, field: FieldInfo) -> str:
    """The environment variable that sets ``name`` (the first alias when it has its own)."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return "LIKENESS_" + name.upper()


def type_text(annotation: Any) -> str:
    """A reader's name for the type: ``int``, ``path``, ``one of a, b``, ``JSON object``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " or ".join(type_text(a) for a in kept) + (", or empty" if len(kept) < len(args) else "")
    if origin is dict or annotation is dict:
        return "JSON object"
    return {
        str: "text",
        int: "integer",
        float: "number",
        bool: "true or false",
        Path: "path",
        SecretStr: "secret",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def default_text(field: FieldInfo) -> str:
    if field.annotation is SecretStr or SecretStr in get_args(field.annotation):
        return "(none)" if field.default in (None, PydanticUndefined) else "(set)"
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, dict):
        return f"`{json.dumps(value)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def range_text(field: FieldInfo) -> str:
    """The bounds pydantic checks, as ``1–100`` when both are inclusive, else ``> 0``, ``≤ 16``."""
    bounds: dict[str, Any] = {}
    for rule in field.metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if hasattr(rule, kind) and isinstance(rule, annotated_types.BaseMetadata):
                bounds[kind] = getattr(rule, kind)
    if "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']}–{bounds['le']}"
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    return ", ".join(f"{signs[kind]} {value}" for kind, value in bounds.items())


def rows() -> list[tuple[str, str, str, str, str, str]]:
    """(section, variable, type, default, range, description) per field, in declaration order."""
    section, out = "", []
    for name, field in Settings.model_fields.items():
        section = SECTIONS.get(name, section)
        out.append(
            (
                section,
                variable(name, field),
                type_text(field.annotation),
                default_text(field),
                range_text(field),
                (field.description or "").replace("|", "\\|"),
            )
        )
    return out


def configuration_markdown() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Every setting, read from the environment or `.env` at start; an invalid value stops start-up",
        "with one line naming it. Generated from the `Settings` model (`bot/app/settings.py`) at each",
        "docs build, so it lists exactly what the bot accepts.",
    ]
    current = None
    for section, name, kind, default, bounds, description in rows():
        if section != current:
            current = section
            lines += ["", f"## {section}", "", "| variable | type | default | range | what it does |"]
            lines += ["|---|---|---|---|---|"]
        lines.append(f"| `{name}` | {kind} | {default} | {bounds} | {description} |")
    return "\n".join(lines) + "\n"
