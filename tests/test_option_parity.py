"""Every job option is the same option in all three entry points: the slash command as Discord
registers it, the HTTP API as ``/openapi.json`` documents it, and the CLI's argparse flags.

Each is compared with its one declaration in ``bot.options``: name, type, bounds, length, choices
(with their labels on Discord), default and help. An option declared but missing from an entry
point fails here by name, and so does an entry point's option that nothing declares.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser
from bot.options import FILES, OPTIONS, VALUES
from bot.rules import Kind, Rule
from bot.tiny import TinyBundle
from cogs.utils.options import AUTOCOMPLETED, FOLDED, discord_help, discord_rule
from tests.bot.api.harness import api_settings, running_api
from tests.cogs.harness import bot_settings, running_bot
from tests.fakediscord import FakeDiscord

# What an entry point has that is not a job option, and the job options it offers elsewhere.
DISCORD_ONLY: set[str] = set()
# the /describe and /upscale commands; after the sampler's name; in the lora option as NAME:WEIGHT;
# outpaint's expand in the aspect option (25 options a command)
DISCORD_ELSEWHERE = {"describe", "upscale", "schedule", "lora_weight", "expand"}
API_ONLY = {"webhook"}
API_JSON_FILES = {"image": "image_url", "mask": "mask_url"}  # JSON bodies name a URL, not a file
CLI_ONLY = {"help", "user", "out"}
AUTOCOMPLETED_BY_COG = {"style", "lora", "character", "model"}  # names the bot knows: LoRAs, characters

DISCORD_TYPES = {Kind.TEXT: 3, Kind.WHOLE: 4, Kind.NUMBER: 10, Kind.FILE: 11}
JSON_TYPES = {Kind.TEXT: "string", Kind.WHOLE: "integer", Kind.NUMBER: "number"}
CLI_TYPES = {Kind.TEXT: str, Kind.WHOLE: int, Kind.NUMBER: float, Kind.FILE: Path}


def discord_view(option: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": option["type"],
        "required": option.get("required", False),
        "bounds": (option.get("min_value"), option.get("max_value")),
        "length": (option.get("min_length"), option.get("max_length")),
        "choices": [(c["name"], c["value"]) for c in option.get("choices", [])],
        "autocomplete": option.get("autocomplete", False),
        "description": option["description"],
    }


def declared_discord(own: Rule) -> dict[str, Any]:
    """An option as Discord should register it: the folded option's choices where it takes them."""
    rule = discord_rule(own.option)
    completed = rule.option in AUTOCOMPLETED
    return {
        "type": DISCORD_TYPES[rule.kind],
        "required": False,
        "bounds": rule.bounds or (None, None),
        "length": rule.length if rule.length and rule.bounds is None else (None, None),
        "choices": [] if completed else [(rule.label_of(c), c) for c in rule.choices or ()],
        "autocomplete": completed or rule.option in AUTOCOMPLETED_BY_COG,
        "description": discord_help(own.option),
    }


async def test_the_slash_command_registers_every_option_as_declared(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    async with running_bot(fake_discord, bot_settings(tiny_bundle, data_dir)) as bot:
        [schema] = [c for c in fake_discord.synced_commands if c["name"] == "generate"]
        command = bot.tree.get_command("generate")
    registered = {o["name"]: discord_view(o) for o in schema["options"]}
    expected = {
        name: declared_discord(rule) for name, rule in OPTIONS.items() if name not in DISCORD_ELSEWHERE
    }
    assert set(registered) - set(expected) == DISCORD_ONLY
    assert set(expected) - set(registered) == set()
    assert set(FOLDED) <= DISCORD_ELSEWHERE and set(FOLDED.values()) <= set(registered)
    for name in expected:
        assert registered[name] == expected[name], name
    # Left out, every option is None in the callback, and ``job_params`` fills in its default.
    assert command is not None
    assert {p.name: p.default for p in command.parameters} == dict.fromkeys(registered)  # type: ignore[union-attr]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _value(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The non-null branch of an optional property, and whether null is allowed."""
    branches = schema.get("anyOf")
    if branches is None:
        return schema, False
    [value] = [b for b in branches if b.get("type") != "null"]
    return value, len(branches) == 2


def api_view(prop: dict[str, Any]) -> dict[str, Any]:
    value, nullable = _value(prop)
    return {
        "type": value.get("type"),
        "nullable": nullable,
        "bounds": (value.get("minimum"), value.get("maximum")),
        "length": (value.get("minLength"), value.get("maxLength")),
        "enum": value.get("enum"),
        "default": prop.get("default"),
        "description": prop.get("description"),
    }


def declared_api(rule: Rule) -> dict[str, Any]:
    return {
        "type": JSON_TYPES[rule.kind],
        "nullable": not isinstance(rule.default, str),
        "bounds": rule.bounds or (None, None),
        # The prompt's limit counts it without its LoRA tags, so the schema cannot state it.
        "length": rule.length if rule.length and rule.option != "prompt" else (None, None),
        "enum": list(rule.choices) if rule.choices else None,
        "default": rule.default,
        "description": rule.described,
    }


async def test_the_api_documents_every_option_as_declared(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as harness:
        document = (await harness.client.get("/openapi.json")).json()
    content = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    for kind, body in content.items():
        props = _resolve(document, body["schema"])["properties"]
        files = {API_JSON_FILES[f] for f in FILES} if kind == "application/json" else set(FILES)
        assert set(props) == set(VALUES) | API_ONLY | files, kind
        for name in VALUES:
            assert api_view(props[name]) == declared_api(OPTIONS[name]), (kind, name)
        if kind == "multipart/form-data":
            assert all(props[f].get("format") == "binary" for f in FILES)


def cli_view(action: argparse.Action) -> dict[str, Any]:
    return {
        "type": action.type,
        "choices": list(action.choices) if action.choices else None,
        "default": action.default,
        "help": action.help,
        "repeat": isinstance(action, argparse._AppendAction),
    }


def declared_cli(rule: Rule) -> dict[str, Any]:
    return {
        "type": CLI_TYPES[rule.kind],
        "choices": list(rule.choices) if rule.choices else None,
        "default": None if rule.many else rule.default,
        "help": rule.described + ("; repeat the flag for more" if rule.many else ""),
        "repeat": rule.many,
    }


def test_the_cli_flags_are_the_declared_options() -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    generate = sub.choices["generate"]
    flags = {a.dest: a for a in generate._actions}
    assert set(flags) - set(OPTIONS) == CLI_ONLY
    assert set(OPTIONS) - set(flags) == set()
    for name, rule in OPTIONS.items():
        assert flags[name].option_strings == [rule.flag], name
        assert cli_view(flags[name]) == declared_cli(rule), name


@pytest.mark.parametrize("name", list(OPTIONS))
def test_each_declaration_fits_every_entry_point(name: str) -> None:
    """Discord's limits: descriptions ≤ 100 characters, ≤ 25 choices of ≤ 100 characters each; a
    default is one of the choices and inside the range."""
    rule = OPTIONS[name]
    assert rule.help and len(rule.described) <= 100
    assert len(rule.choices or ()) <= 25
    assert all(len(rule.label_of(c)) <= 100 for c in rule.choices or ())
    if rule.default is not None and rule.choices is not None:
        assert rule.default in rule.choices
    if rule.default is not None and rule.bounds is not None:
        assert rule.bounds[0] <= rule.default <= rule.bounds[1]
