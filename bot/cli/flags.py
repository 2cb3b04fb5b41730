"""The job options as command-line flags, generated from ``bot.options``: ``--image-weight`` is the
option ``image_weight``, with its type, choices, default and help."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.options import OPTIONS, VALUES
from bot.rules import Kind, Rule

_TYPES: dict[Kind, type] = {Kind.TEXT: str, Kind.WHOLE: int, Kind.NUMBER: float, Kind.FILE: Path}


def add_job_flags(parser: argparse.ArgumentParser) -> None:
    for rule in OPTIONS.values():
        parser.add_argument(rule.flag, **_flag(rule))


def _flag(rule: Rule) -> dict[str, Any]:
    flag: dict[str, Any] = {"type": _TYPES[rule.kind], "help": _help(rule), "default": rule.default}
    if rule.choices is not None:
        flag["choices"] = rule.choices
    if rule.many:  # a comma list, or the flag repeated
        flag.update(action="append", default=None, metavar="NAME[:WEIGHT]")
    elif rule.kind is Kind.FILE:
        flag["metavar"] = "PATH"
    return flag


def _help(rule: Rule) -> str:
    text = rule.described
    if rule.many:
        text += "; repeat the flag for more"
    return text.replace("%", "%%")  # argparse formats help with %


def job_values(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed flags by option name, as ``bot.options.job_params`` takes them."""
    values = {name: getattr(args, name) for name in VALUES}
    for name in VALUES:
        if OPTIONS[name].many and values[name] is not None:
            values[name] = ", ".join(values[name])
    return values
