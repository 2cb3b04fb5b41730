"""The options of a generation job, as every entry point offers them, and the one way back to
``JobParams``.

``OPTIONS`` lists each option once, in order: every ruled field of ``JobParams`` and ``FaceLock``,
and the few options that are not one field each (the picture files, face lock's character, the
LoRA list's default weight). The slash command takes its ranges, choices and descriptions from
here; the CLI's flags and the API's body models are generated from here; ``job_params`` turns
what any of them parsed into the job's parameters. So a new option is its field with its ``Rule``,
a migration for its column, and one line of the Discord signature (a parity test checks the rest).

Pure data, like ``bot.params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.choices import SAMPLER_SCHEDULES, SAMPLERS, SCHEDULES
from bot.params import (
    DEFAULT_LORA_WEIGHT,
    LORA_WEIGHT_RANGE,
    FaceLock,
    JobParams,
    Mode,
    default_mode,
    face_lock,
    parse_loras,
    rules,
)
from bot.rules import Rule

IMAGE = Rule(
    "image",
    "Source image (PNG, JPEG, WebP); leave out to make a new image from the prompt",
    file=True,
)
MASK = Rule("mask", "Inpaint: white where the image should change, black elsewhere", file=True)
CHARACTER = Rule("character", "Face lock: one of your characters (see /character)", length=(1, 100))
LORA_WEIGHT = Rule(
    "lora_weight",
    "LoRA weight where the lora option gives none",
    bounds=LORA_WEIGHT_RANGE,
    default=DEFAULT_LORA_WEIGHT,
)

_PARAMS = dict(rules(JobParams))
_FACE = {rule.option: name for name, rule in rules(FaceLock)}
# Checked before the record is built (the mode picks the record's shape); ``resolve`` checks the
# rest with the whole job, so the first problem named is the same from every entry point.
_CHECKED_HERE = frozenset({"mode", "character", "lora_weight"})


def _ordered() -> dict[str, Rule]:
    """The options in the order people meet them: the prompt and the picture, then the dials."""
    job = [rule for _, rule in rules(JobParams)]
    face = [rule for _, rule in rules(FaceLock)]
    lora = _PARAMS["loras"]
    listed = [job[0], IMAGE, MASK, *job[1:], CHARACTER, *face]
    at = listed.index(lora) + 1
    listed[at:at] = [LORA_WEIGHT]
    return {rule.option: rule for rule in listed}


OPTIONS: Mapping[str, Rule] = _ordered()
FILES: tuple[str, ...] = tuple(name for name, rule in OPTIONS.items() if rule.file)
VALUES: tuple[str, ...] = tuple(name for name, rule in OPTIONS.items() if not rule.file)


def job_params(values: Mapping[str, Any], *, image: bool) -> JobParams:
    """What an entry point parsed, by option name (a missing or None value is the option's default),
    as a job's parameters; ``image`` says whether a picture comes with the job.

    Text lengths, choices and ranges are checked as they are declared, so a value a client did not
    check itself reads as it does everywhere; ``resolve`` then checks the job as a whole."""
    unknown = sorted(set(values) - set(VALUES))
    if unknown:
        raise ValueError(f"not job options: {', '.join(unknown)}")

    def given(name: str) -> Any:
        value = values.get(name)
        return OPTIONS[name].default if value is None else value

    for name, value in values.items():
        if value is None:
            continue
        rule = OPTIONS[name]
        if isinstance(value, str) and name != "prompt":  # the prompt counts without its LoRA tags
            rule.check_length(value)
        if name in _CHECKED_HERE:
            rule.check(value)
    describe = given("describe")
    mode = Mode(given("mode")) if given("mode") else default_mode(image=image, describe=describe is not None)
    fields = {name: given(rule.option) for name, rule in _PARAMS.items() if name not in ("mode", "loras")}
    return JobParams(
        **fields,
        mode=mode,
        loras=parse_loras(given("lora"), given("lora_weight")),
        face=face_lock(
            given("character"),
            **{field: given(option) for option, field in _FACE.items()},
        ),
    )


# A1111 before 1.9 named a sampler and its schedule as one ("DPM++ 2M Karras"), as model pages and
# Civitai still do; the slash command takes that form in its one sampler option.
SAMPLER_NAMES: tuple[str, ...] = tuple(
    name
    for sampler, schedules in SAMPLER_SCHEDULES.items()
    for name in (sampler, *(f"{sampler} {s}" for s in schedules))
)


def split_sampler(text: str) -> tuple[str, str | None]:
    """``"DPM++ 2M Karras"`` as ``("DPM++ 2M", "Karras")``, any letter case; a name no sampler
    starts is returned whole, for the sampler's own check to refuse with the names it takes."""
    typed = " ".join(text.split())
    for sampler in sorted(SAMPLERS, key=len, reverse=True):  # "DPM2 a" before "DPM2"
        if typed.lower() == sampler.lower():
            return sampler, None
        if typed.lower().startswith(sampler.lower() + " "):
            rest = typed[len(sampler) + 1 :]
            return sampler, next((s for s in SCHEDULES if s.lower() == rest.lower()), rest)
    return typed, None
