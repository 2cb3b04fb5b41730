"""The parameter record's rules, defaults and columns, without a bot or a model."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from bot.errors import InvalidRequest
from bot.params import (
    DEFAULT_STRENGTH,
    PARAMS_CODEC,
    SEED_MAX,
    Defaults,
    FaceLock,
    JobParams,
    LoraUse,
    Mode,
    face_lock,
    parse_loras,
    resolve,
    shown,
    take_lora_tags,
    value_text,
)
from storage import Database

PROMPT = "keep the face, rainy street at night"
LOCK = FaceLock()


def params(**changes: Any) -> JobParams:
    return JobParams(**{"prompt": PROMPT, "mode": Mode.IMG2IMG, "seed": 1, **changes})


# -- refusals: every rule of the record, one message each ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prompt": "", "mode": Mode.TEXT}, "the prompt is empty: describe the change or scene you want"),
        ({"prompt": " \n\t ", "mode": Mode.TEXT}, "the prompt is empty"),
        ({"prompt": "x" * 1001}, "the prompt is 1001 characters; the limit is 1000"),
        ({"negative": "y" * 1001}, "the negative prompt is over 1000 characters"),
        (
            {"prompt": "(masterpiece:1.2, a boat"},
            "the prompt has a “(” at character 1 that is never closed: close it with “)”, or write \\(",
        ),
        ({"prompt": "a boat)"}, "the prompt has a “)” at character 7 that closes no “(”: remove it"),
        ({"prompt": "<lora:anime:0.8> [a boat"}, "the prompt has a “[” at character 18 that is never closed"),
        ({"prompt": "a (boat:1.2.3)"}, "the prompt has the weight “1.2.3” at character 9, which is not a"),
        ({"negative": "blurry, (ugly"}, "the negative prompt has a “(” at character 9 that is never closed"),
        ({"negative": "blurry]"}, "the negative prompt has a “]” at character 7 that closes no “[”"),
        ({"steps": 0}, "steps must be between 1 and 100 (got 0)"),
        ({"steps": 101}, "steps must be between 1 and 100 (got 101)"),
        ({"steps": 2.5}, "steps must be a whole number (got 2.5)"),
        ({"cfg": -0.5}, "cfg must be between 0 and 20 (got -0.5): 5–8 suits most prompts"),
        ({"cfg": 20.5}, "cfg must be between 0 and 20"),
        ({"cfg": math.nan}, "cfg must be between 0 and 20 (got nan)"),
        ({"cfg": "7"}, "cfg must be between 0 and 20 (got 7)"),
        ({"seed": -1}, "seed must be between 0 and 4294967295 (got -1)"),
        ({"seed": SEED_MAX + 1}, "seed must be between 0 and 4294967295"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"candidates": 0}, "candidates must be between 1 and 4 (got 0)"),
        ({"candidates": 5}, "candidates must be between 1 and 4 (got 5)"),
        ({"strength": 1.2}, "strength must be between 0 and 1 (got 1.2): 0.2–0.4 keeps a face"),
        ({"strength": -0.1}, "strength must be between 0 and 1"),
        ({"strength": 0.0}, "strength 0 returns the image unchanged: use at least 0.05"),
        (
            {"steps": 3, "strength": 0.2},
            "with 3 steps at strength 0.2 no denoising step runs: use at least 5 steps",
        ),
        ({"mode": Mode.TEXT, "strength": 0.5}, "strength is not used by text: leave it out"),
        ({"mode": Mode.IMAGE_PROMPT, "strength": 0.5}, "strength is not used by image_prompt: leave it out"),
        ({"expand": "left"}, "expand is only used by outpaint: choose mode outpaint or drop expand"),
        ({"mode": Mode.OUTPAINT, "expand": "sideways"}, "unknown expand 'sideways': choose one of 1:1"),
        ({"image_weight": 1.6}, "image_weight must be between 0 and 1.5 (got 1.6)"),
        ({"image_weight": -1.0}, "image_weight must be between 0 and 1.5"),
        ({"aspect": "5:4"}, "unknown aspect '5:4': choose one of 1:1, 4:5"),
        ({"style": "noir"}, "unknown style 'noir': choose one of photorealistic"),
        (
            {"face": FaceLock(weight=1.6)},
            "character_weight must be between 0 and 1.5 (got 1.6): 0.6–1 suits most",
        ),
        ({"face": FaceLock(mode="median")}, "unknown identity mode 'median': choose one of all, mean"),
        ({"face": FaceLock(min_identity=1.2)}, "min_identity must be between 0 and 1 (got 1.2): 0.4–0.6"),
        ({"face": FaceLock(max_tries=0)}, "max_tries must be between 1 and 10 (got 0)"),
        ({"face": FaceLock(max_tries=11)}, "max_tries must be between 1 and 10"),
        ({"face": FaceLock(max_tries=2.5)}, "max_tries must be a whole number (got 2.5)"),
    ],
)
def test_each_rule_refuses_with_its_fix(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        resolve(params(**changes))
    assert str(refused.value).startswith(message)


def test_the_server_budget_caps_max_tries_but_the_engine_does_not() -> None:
    server = Defaults(max_tries=2, tries_budget=2)
    with pytest.raises(
        InvalidRequest, match="max_tries 5 is over this bot's retry budget of 2: choose 2 or fewer"
    ):
        resolve(params(face=FaceLock(max_tries=5)), server)
    # A job the server accepted (its budget was 5 then) still runs: the engine's own defaults cap nothing.
    assert resolve(params(face=FaceLock(max_tries=5))).face == FaceLock(max_tries=5)


# -- defaults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
def test_each_mode_gets_its_defaults_and_only_those(mode: Mode) -> None:
    resolved = resolve(JobParams(PROMPT, mode=mode, seed=3), Defaults(steps=12))
    assert resolved.steps == 12 and resolved.seed == 3
    assert resolved.strength == DEFAULT_STRENGTH.get(mode)
    assert resolved.expand == ("all" if mode is Mode.OUTPAINT else None)
    assert resolved.face is None


def test_given_values_win_and_the_prompt_is_stripped() -> None:
    resolved = resolve(params(prompt="  a boat \n", steps=8, strength=0.5), Defaults(steps=30))
    assert (resolved.prompt, resolved.steps, resolved.strength) == ("a boat", 8, 0.5)


def test_a_random_seed_is_drawn_once_and_kept() -> None:
    seeds = {resolve(params(seed=None)).seed for _ in range(20)}
    assert len(seeds) > 1 and all(s is not None and 0 <= s <= SEED_MAX for s in seeds)
    resolved = resolve(params(seed=None))
    assert resolve(resolved) == resolved  # resolving again changes nothing, the seed included


def test_face_lock_takes_the_servers_floor_and_budget() -> None:
    server = Defaults(min_identity=0.45, max_tries=4, tries_budget=4)
    assert resolve(params(face=LOCK), server).face == FaceLock(min_identity=0.45, max_tries=4)
    own = FaceLock(weight=1.2, mode="mean", min_identity=0.3, max_tries=1)
    assert resolve(params(face=own), server).face == own


def test_face_lock_needs_a_character_for_its_scoring_options() -> None:
    assert face_lock(None) is None
    assert face_lock("Mara", weight=1.0, mode=None) == FaceLock(weight=1.0, mode="all")
    for options in ({"min_identity": 0.5}, {"max_tries": 2}):
        with pytest.raises(InvalidRequest, match="score faces against a character: choose a character"):
            face_lock(None, **options)  # type: ignore[arg-type]


# -- what Info, the embed and the PNG show ------------------------------------------------------------


def test_shown_lists_the_settings_of_the_jobs_mode() -> None:
    def names(p: JobParams) -> list[str]:
        return [rule.option for rule, _ in shown(resolve(p))]

    assert names(params(mode=Mode.TEXT, style="vintage")) == [
        "steps",
        "cfg",
        "seed",
        "candidates",
        "aspect",
        "style",
        "sampler",
        "schedule",
        "speed",
    ]
    assert names(params()) == [
        "steps",
        "cfg",
        "seed",
        "candidates",
        "strength",
        "sampler",
        "schedule",
        "speed",
    ]
    assert names(params(mode=Mode.IMAGE_PROMPT))[-5:-3] == ["image_weight", "aspect"]
    assert names(params(mode=Mode.OUTPAINT))[-5:-3] == ["strength", "expand"]


# -- as columns ---------------------------------------------------------------------------------------


async def test_the_columns_are_the_migrated_ones_and_round_trip(tmp_path: Path) -> None:
    """One field is one column: the codec's columns exist in the migrated ``jobs`` table, and every
    record comes back equal, face lock or not."""
    async with await Database.open(tmp_path / "db.sqlite3") as db:
        table = {row[1] for row in await db.fetchall("PRAGMA table_info(jobs)")}
    assert set(PARAMS_CODEC.columns) <= table
    expected = {f.name for f in fields(JobParams)} - {"face"} | {f"face_{f.name}" for f in fields(FaceLock)}
    assert set(PARAMS_CODEC.columns) == expected
    for record in (
        resolve(params()),
        resolve(params(face=FaceLock(weight=0.5, mode="mean", min_identity=0.4, max_tries=2))),
        resolve(replace(params(), mode=Mode.OUTPAINT, expand="16:9", style="cartoon")),
    ):
        assert PARAMS_CODEC.decode(PARAMS_CODEC.encode(record)) == record


# -- LoRAs ----------------------------------------------------------------------------------------------


def test_lora_tags_leave_the_prompt_and_join_the_given_loras() -> None:
    resolved = resolve(
        params(prompt="a girl, <lora:anime:0.8>, smiling <LORA:film>", loras=(LoraUse("ink"),))
    )
    assert resolved.prompt == "a girl, smiling"
    assert resolved.loras == (LoraUse("ink"), LoraUse("anime", 0.8), LoraUse("film", 1.0))
    assert resolve(resolved) == resolved
    assert take_lora_tags("<lora:a:0.5><lora:b:0.6:0.2> a boat") == (
        "a boat",
        (LoraUse("a", 0.5), LoraUse("b", 0.6)),
    )


@pytest.mark.parametrize(
    ("prompt", "loras", "message"),
    [
        ("x <lora:a> <lora:b> <lora:c> <lora:d>", (), "4 LoRAs given; a job takes at most 3"),
        (
            "x <lora:anime:0.5>",
            (LoraUse("Anime"),),
            "the LoRA “Anime” is given twice: give it once, with one weight",
        ),
        ("x", (LoraUse("anime", 2.5),), "the weight of the LoRA “anime” must be between -2 and 2 (got 2.5)"),
        ("x <lora:anime:strong>", (), "the weight of the LoRA “anime” is “strong”, not a number (like 0.8)"),
    ],
)
def test_lora_refusals(prompt: str, loras: tuple[LoraUse, ...], message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        resolve(params(prompt=prompt, loras=loras))
    assert str(refused.value).startswith(message)


def test_a_prompt_may_be_left_to_the_image_only_when_an_image_comes() -> None:
    """With an image (a mode that takes one, or a structure), no prompt means "describe it"."""
    with pytest.raises(InvalidRequest, match="the prompt is empty"):
        resolve(params(prompt="<lora:anime:0.8>", mode=Mode.TEXT))
    for given in (params(prompt=" <lora:anime:0.8> "), params(prompt="", mode=Mode.TEXT, structure="canny")):
        assert given.described and resolve(given).prompt == ""
    assert not params().described and not params(prompt="", describe="standard").described


def test_the_lora_option_takes_a_list_with_a_default_weight() -> None:
    assert parse_loras("anime:0.8, film; ink:-0.5", 0.7) == (
        LoraUse("anime", 0.8),
        LoraUse("film", 0.7),
        LoraUse("ink", -0.5),
    )
    assert parse_loras(None) == () and parse_loras(" , ") == ()
    with pytest.raises(InvalidRequest, match="not a number"):
        parse_loras("anime:x")


def test_loras_are_shown_stored_and_read_back() -> None:
    record = resolve(params(loras=(LoraUse("anime", 0.8), LoraUse("film"))))
    assert ("lora", "anime:0.8, film:1") in [
        (rule.option, value_text(value)) for rule, value in shown(record)
    ]
    assert PARAMS_CODEC.encode(record)["loras"] == '[["anime", 0.8], ["film", 1.0]]'
    assert PARAMS_CODEC.decode(PARAMS_CODEC.encode(record)) == record


def test_a_server_style_adds_its_loras_once_and_the_jobs_own_weight_wins() -> None:
    server = Defaults(styles={"anime": (LoraUse("ink", 0.8),), "cartoon": (LoraUse("glow", 0.6),)})
    anime = resolve(params(style="anime"), server)
    assert anime.loras == (LoraUse("ink", 0.8),) and anime.style == "anime"
    assert resolve(anime, server) == anime  # nothing added twice
    cartoon = resolve(params(style="cartoon", loras=(LoraUse("ink"),)), server)
    assert cartoon.loras == (LoraUse("ink"), LoraUse("glow", 0.6))  # a preset keeps its template too
    mine = resolve(params(prompt="x <lora:ink:0.3>", style="anime"), server)
    assert mine.loras == (LoraUse("ink", 0.3),)
    with pytest.raises(
        InvalidRequest, match=r"unknown style 'manga': choose one of photorealistic, .*futuristic, anime"
    ):
        resolve(params(style="manga"), server)
