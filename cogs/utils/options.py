"""A slash command's job options from their declarations in ``bot.options``.

The command keeps its explicit signature, as discord.py wants (``cfg: float | None = None``);
``@declared`` gives each parameter named like an option the option's range or length (as
``app_commands.Range``), its choices with their labels and its description, through discord.py's
own ``describe`` and ``choices``. Apply it below ``@app_commands.command``. Every option is left
out as None, and ``bot.options.job_params`` fills in its default, as for the CLI and the API.

Discord allows 25 options a command, so the sampler option also takes the schedule type after
the name, as A1111's older names and model pages write it ("DPM++ 2M Karras"): too many pairs for
fixed choices, so it is autocompleted (``SAMPLER_NAMES``) and split here. And the aspect option is
also outpaint's ``expand``: a new image's shape and the shape (or side) an outpaint grows to are
never asked for in one job, so one option with expand's choices takes both.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.choices import DIRECTIONS, ZOOMS
from bot.errors import InvalidRequest
from bot.options import OPTIONS, VALUES, split_sampler
from bot.params import Mode
from bot.rules import Kind, Rule

F = TypeVar("F", bound=Callable[..., Any])
FOLDED = {"schedule": "sampler", "expand": "aspect"}  # an option taken inside another one in Discord
AUTOCOMPLETED = frozenset({"sampler"})  # choices too many for Discord's 25: completed as typed
SAMPLER_HELP = "The sampler by its A1111 name, its schedule type after it if you like: DPM++ 2M Karras"
ASPECT_HELP = "Shape of a new image; with mode outpaint, the ratio or side to grow to (all when left out)"
_TYPES: dict[Kind, type] = {Kind.TEXT: str, Kind.WHOLE: int, Kind.NUMBER: float}


def declared(func: F) -> F:
    """Ranges, lengths, choices and descriptions for the callback's job options."""
    parameters = inspect.signature(func).parameters
    names = [name for name in parameters if name in OPTIONS]
    for name in names:
        rule = OPTIONS[name]
        annotation = _annotation(rule)
        if parameters[name].default is not inspect.Parameter.empty:
            annotation = annotation | None
        func.__annotations__[name] = annotation
    choices = {
        n: choices_of(discord_rule(n))
        for n in names
        if OPTIONS[n].choices is not None and n not in AUTOCOMPLETED
    }
    func = app_commands.choices(**choices)(func)
    described = {n: discord_help(n) for n in names}
    return app_commands.describe(**described)(func)


def discord_rule(name: str) -> Rule:
    """The declaration a Discord option follows: its own, or the folded one's where that takes more."""
    return OPTIONS["expand"] if name == "aspect" else OPTIONS[name]


def discord_help(name: str) -> str:
    return {"sampler": SAMPLER_HELP, "aspect": ASPECT_HELP}.get(name, OPTIONS[name].described)


def _annotation(rule: Rule) -> Any:
    if rule.kind is Kind.FILE:
        return discord.Attachment
    kind = _TYPES[rule.kind]
    if rule.bounds is not None:
        low, high = rule.bounds
        return app_commands.Range[kind, kind(low), kind(high)]
    if rule.length is not None:
        return app_commands.Range[str, rule.length[0], rule.length[1]]
    return kind


def choices_of(rule: Rule) -> list[app_commands.Choice[str]]:
    assert rule.choices is not None
    return [app_commands.Choice(name=rule.label_of(value), value=value) for value in rule.choices]


def job_values(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The callback's arguments (its ``locals()``) that are job option values, by option name, with
    the folded ones taken out of the option that holds them."""
    values = {name: value for name, value in arguments.items() if name in VALUES}
    if values.get("sampler"):
        values["sampler"], values["schedule"] = split_sampler(values["sampler"])
    if values.get("mode") == Mode.OUTPAINT:
        values["expand"] = values.pop("aspect", None)
    elif values.get("aspect") in DIRECTIONS:
        raise InvalidRequest(
            f"aspect {values['aspect']} grows the picture on that side: choose mode outpaint, "
            "or an aspect ratio for a new image"
        )
    elif values.get("aspect") in ZOOMS:
        raise InvalidRequest(
            f"aspect {values['aspect']} zooms the picture out: choose mode outpaint, "
            "or an aspect ratio for a new image"
        )
    return values
