"""Every server setting, declared once: its name (what ``/likeness settings set`` and ``reset``
offer), one line of help, how a typed value is read and checked, and how it is shown. Values are
stored as JSON (``storage.guilds``) and read back into a ``GuildPolicy`` here.

A value is checked against the bot's declared options (``bot.params``' rules: ranges, samplers,
styles, models) and against the bot-wide limits, which a server may tighten but never loosen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.choices import SAMPLERS
from bot.errors import InvalidRequest
from bot.guilds.blocklist import MAX_ENTRIES, compile_entry
from bot.guilds.policy import BotLimits, GuildPolicy
from bot.nsfw_policy import ServerNsfw
from bot.params import JobParams, Mode, rules
from bot.prompt_syntax import parse as parse_prompt
from bot.rules import number_text

_JOB = dict(rules(JobParams))
_ON = {"on": True, "true": True, "yes": True, "allow": True, "off": False, "false": False, "no": False}
MAX_DAILY_JOBS = 10_000


@dataclass(frozen=True, slots=True)
class Choices:
    """What this bot offers, for the defaults that must name one of them."""

    styles: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


Reader = Callable[[str, GuildPolicy, BotLimits, Choices], Any]


@dataclass(frozen=True, slots=True)
class GuildSetting:
    """One setting: ``read`` turns what an admin typed into the stored value (or refuses it)."""

    name: str
    help: str
    read: Reader
    typed: bool = True  # set with ``/likeness settings set`` (else by its own command)

    def show(self, value: Any) -> str:
        if value is None:
            return "not set"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value) or "none"
        if self.name == "log_channel":
            return f"<#{value}>"
        return number_text(value) if isinstance(value, int | float) else str(value)


def _whole(option: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidRequest(f"{option} takes a whole number (got “{text.strip()[:40]}”)") from None


def _number(option: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise InvalidRequest(f"{option} takes a number (got “{text.strip()[:40]}”)") from None


def _tighter(option: str, value: float, low: float, bot: float | None, what: str) -> None:
    """``value`` within ``low`` and the bot's own limit ``bot`` (a looser one is refused naming it)."""
    if value < low:
        raise InvalidRequest(f"{option} must be at least {number_text(low)} (got {number_text(value)})")
    if bot is not None and value > bot:
        raise InvalidRequest(
            f"{option} {number_text(value)} is looser than this bot's limit of {number_text(bot)} {what}: "
            f"a server can only tighten it, so choose {number_text(bot)} or less"
        )


def _negative(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> str:
    _JOB["negative"].check_length(text)
    parse_prompt(text, "negative prompt")
    return text


def _steps(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> int:
    value = _whole("steps", text)
    _JOB["steps"].check(value)
    if policy.max_steps is not None and value > policy.max_steps:
        raise InvalidRequest(f"steps {value} is over this server's max_steps of {policy.max_steps}")
    return value


def _named(option: str, offered: Callable[[Choices], Sequence[str]]) -> Reader:
    def read(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> str:
        names = offered(choices)
        found = next((n for n in names if n.lower() == text.strip().lower()), None)
        if found is None:
            raise InvalidRequest(f"unknown {option} “{text.strip()[:50]}”: choose one of {', '.join(names)}")
        return found

    return read


def _max_steps(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> int:
    value = _whole("max_steps", text)
    _tighter("max_steps", value, 1, limits.max_steps, "steps")
    if policy.steps is not None and policy.steps > value:
        raise InvalidRequest(
            f"this server's default steps {policy.steps} is over max_steps {value}: lower steps first"
        )
    return value


def _max_candidates(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> int:
    value = _whole("max_candidates", text)
    _tighter("max_candidates", value, 1, limits.max_candidates, "candidates")
    return value


def _max_megapixels(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> float:
    value = _number("max_megapixels", text)
    if not value > 0:
        raise InvalidRequest(f"max_megapixels must be above 0 (got {number_text(value)})")
    _tighter("max_megapixels", round(value, 3), 0, round(limits.max_megapixels, 3), "megapixels")
    return value


def _modes(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> list[str]:
    names = [part.strip().lower() for part in text.replace(";", ",").split(",") if part.strip()]
    known = [m.value for m in Mode]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InvalidRequest(
            f"modes takes a comma list of {', '.join(known)}"
            + (f" (“{unknown[0][:30]}” is none of them)" if unknown else "")
        )
    return [m for m in known if m in names]


def _switch(option: str) -> Reader:
    def read(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> bool:
        value = _ON.get(text.strip().lower())
        if value is None:
            raise InvalidRequest(f"{option} takes on or off (got “{text.strip()[:30]}”)")
        return value

    return read


def _nsfw(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> str:
    value = text.strip().lower()
    if value not in {p.value for p in ServerNsfw}:
        raise InvalidRequest(
            f"nsfw takes one of {', '.join(p.value for p in ServerNsfw)} (Discord allows images "
            "flagged NSFW only in age-restricted channels, so no server setting opens other channels)"
        )
    return value


def _daily_jobs(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> int:
    value = _whole("daily_jobs", text)
    _tighter("daily_jobs", value, 1, limits.daily_jobs or MAX_DAILY_JOBS, "jobs a day")
    return value


def _untyped(text: str, policy: GuildPolicy, limits: BotLimits, choices: Choices) -> Any:
    raise AssertionError("set by its own command")


def _style_names(choices: Choices) -> Sequence[str]:
    return choices.styles


def _model_names(choices: Choices) -> Sequence[str]:
    return choices.models


def _samplers(choices: Choices) -> Sequence[str]:
    return SAMPLERS


SETTINGS: Mapping[str, GuildSetting] = {
    s.name: s
    for s in (
        GuildSetting("negative", "the negative prompt of a job that gives none", _negative),
        GuildSetting("steps", "the steps of a job that gives none", _steps),
        GuildSetting("style", "the style of a job that gives none", _named("style", _style_names)),
        GuildSetting("model", "the model of a job that names none", _named("model", _model_names)),
        GuildSetting("sampler", "the sampler of a job that names none", _named("sampler", _samplers)),
        GuildSetting("max_steps", "the most steps a job may take", _max_steps),
        GuildSetting("max_candidates", "the most images one job may make", _max_candidates),
        GuildSetting("max_megapixels", "the largest images a job's model may make", _max_megapixels),
        GuildSetting("modes", "the modes jobs may use (a comma list)", _modes),
        GuildSetting("face_lock", "whether jobs may lock a character's face", _switch("face_lock")),
        GuildSetting("nsfw", "where an output flagged NSFW may be posted", _nsfw),
        GuildSetting("daily_jobs", "jobs per member per UTC day (the API's count too)", _daily_jobs),
        GuildSetting("blocklist", "words or /patterns/ refused in prompts", _untyped, typed=False),
        GuildSetting(
            "log_channel", "where finished jobs, refusals and bans are logged", _untyped, typed=False
        ),
    )
}
TYPED: tuple[str, ...] = tuple(name for name, s in SETTINGS.items() if s.typed)


def policy_of(stored: Mapping[str, str]) -> GuildPolicy:
    """The stored JSON values as a policy (names this version does not know are ignored)."""
    values: dict[str, Any] = {}
    for name, text in stored.items():
        if name not in SETTINGS:
            continue
        value = json.loads(text)
        if name == "modes":
            value = frozenset(Mode(m) for m in value)
        elif name == "nsfw":
            value = ServerNsfw(value)
        elif name == "blocklist":
            value = tuple(value)
        values[name] = value
    return replace(GuildPolicy(), **values)


def stored_values(stored: Mapping[str, str]) -> dict[str, Any]:
    """Each setting's value as shown: None where the server kept the bot's."""
    return {name: json.loads(stored[name]) if name in stored else None for name in SETTINGS}


def add_to_blocklist(current: Sequence[str], entry: str) -> list[str]:
    compile_entry(entry)
    text = entry.strip()
    if text.lower() in (e.lower() for e in current):
        raise InvalidRequest("that entry is on the blocklist already")
    if len(current) >= MAX_ENTRIES:
        raise InvalidRequest(f"the blocklist holds at most {MAX_ENTRIES} entries: remove one first")
    return [*current, text]
