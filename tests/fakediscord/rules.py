"""Discord's documented limits and the validators that enforce them.

The point of the fake is that a bot breaking one of these rules fails its tests here instead of in
production, so each validator answers with the same error shape Discord uses (code 50035 with a nested
``errors`` tree that discord.py flattens into a readable message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .state import Mentions

# Violation rule names: stable strings tests can filter on.
RULE_ACK_LATE = "interaction_ack_late"
RULE_ACK_MISSING = "interaction_not_acknowledged"
RULE_ALREADY_ACKED = "interaction_already_acknowledged"
RULE_INVALID_CALLBACK = "invalid_callback_type"
RULE_TOKEN_EXPIRED = "webhook_token_expired"
RULE_ENTITY_TOO_LARGE = "request_entity_too_large"
RULE_TOO_MANY_FILES = "too_many_files"
RULE_INVALID_FORM = "invalid_form_body"
RULE_EMPTY_MESSAGE = "empty_message"
RULE_COMMAND_SCHEMA = "invalid_command_schema"
RULE_RATE_LIMITED = "rate_limited"
RULE_UNKNOWN_ROUTE = "unknown_route"
RULE_UNKNOWN_MESSAGE = "unknown_message"
RULE_UNKNOWN_CHANNEL = "unknown_channel"
RULE_UNKNOWN_WEBHOOK = "unknown_webhook"
RULE_UNKNOWN_INTERACTION = "unknown_interaction"
RULE_UNAUTHORIZED = "unauthorized"
RULE_FORBIDDEN = "forbidden"
RULE_BAD_REQUEST = "bad_request"

MiB = 1024 * 1024

# Discord's name regex is ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$; Python's \w covers \p{L}\p{N}
# (plus a few connector marks), which is close enough for catching real mistakes.
_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


@dataclass
class Limits:
    """Every knob the fake enforces; tests shrink the time-based ones to keep runs fast."""

    ack_deadline: float = 3.0
    token_lifetime: float = 15 * 60.0
    attachment_size_limit: int = 10 * MiB
    max_files: int = 10
    content_length: int = 2000
    max_embeds: int = 10
    embed_title: int = 256
    embed_description: int = 4096
    embed_fields: int = 25
    embed_field_name: int = 256
    embed_field_value: int = 1024
    embed_footer_text: int = 2048
    embed_author_name: int = 256
    embed_total: int = 6000
    action_rows: int = 5
    row_components: int = 5
    v2_total_components: int = 40
    custom_id_length: int = 100
    button_label: int = 80
    select_options: int = 25
    edit_rate_limit: int = 5
    edit_rate_window: float = 5.0
    command_options: int = 25
    command_choices: int = 25
    command_description: int = 100
    command_total_chars: int = 4000
    chat_input_commands: int = 100
    autocomplete_choices: int = 25
    modal_title: int = 45


class FormErrors:
    """Collects (path, code, message) triples and renders Discord's nested ``errors`` object."""

    def __init__(self) -> None:
        self.items: list[tuple[tuple[str, ...], str, str]] = []

    def add(self, path: tuple[Any, ...], code: str, message: str) -> None:
        self.items.append((tuple(str(p) for p in path), code, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def to_dict(self) -> dict[str, Any]:
        root: dict[str, Any] = {}
        for path, code, message in self.items:
            node = root
            for part in path:
                node = node.setdefault(part, {})
            node.setdefault("_errors", []).append({"code": code, "message": message})
        return root

    def summary(self) -> str:
        return "; ".join(f"{'.'.join(path) or '<root>'}: {message}" for path, _, message in self.items)


def _max_len(errors: FormErrors, path: tuple[Any, ...], value: Any, limit: int) -> int:
    """Checks a string length, returning the length counted towards totals."""
    if value is None:
        return 0
    text = str(value)
    if len(text) > limit:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return len(text)


def _len_between(errors: FormErrors, path: tuple[Any, ...], value: Any, low: int, high: int) -> None:
    text = "" if value is None else str(value)
    if not low <= len(text) <= high:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


# ---------------------------------------------------------------------------------------------- messages


def validate_embeds(embeds: list[dict[str, Any]], limits: Limits, errors: FormErrors) -> None:
    if len(embeds) > limits.max_embeds:
        errors.add(("embeds",), "BASE_TYPE_MAX_LENGTH", f"Must be {limits.max_embeds} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        base = ("embeds", i)
        total += _max_len(errors, (*base, "title"), embed.get("title"), limits.embed_title)
        total += _max_len(errors, (*base, "description"), embed.get("description"), limits.embed_description)
        total += _max_len(
            errors,
            (*base, "footer", "text"),
            (embed.get("footer") or {}).get("text"),
            limits.embed_footer_text,
        )
        total += _max_len(
            errors,
            (*base, "author", "name"),
            (embed.get("author") or {}).get("name"),
            limits.embed_author_name,
        )
        fields = embed.get("fields") or []
        if len(fields) > limits.embed_fields:
            errors.add(
                (*base, "fields"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {limits.embed_fields} or fewer in length.",
            )
        for j, fld in enumerate(fields):
            fpath = (*base, "fields", j)
            name, value = fld.get("name"), fld.get("value")
            if not name:
                errors.add((*fpath, "name"), "BASE_TYPE_REQUIRED", "This field is required")
            if not value:
                errors.add((*fpath, "value"), "BASE_TYPE_REQUIRED", "This field is required")
            total += _max_len(errors, (*fpath, "name"), name, limits.embed_field_name)
            total += _max_len(errors, (*fpath, "value"), value, limits.embed_field_value)
    if total > limits.embed_total:
        errors.add(
            ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {limits.embed_total}"
        )


def _walk_components(components: list[dict[str, Any]], path: tuple[Any, ...]):
    for i, comp in enumerate(components):
        yield (*path, i), comp
        for key in ("components",):
            children = comp.get(key)
            if isinstance(children, list):
                yield from _walk_components(children, (*path, i, key))
        accessory = comp.get("accessory")
        if isinstance(accessory, dict):
            yield (*path, i, "accessory"), accessory


def validate_components(
    components: list[dict[str, Any]], flags: int, limits: Limits, errors: FormErrors
) -> None:
    """Action-row layout (v1) or total count (v2), custom_id length and uniqueness, button shape."""
    is_v2 = bool(flags & (1 << 15))
    if not is_v2:
        if len(components) > limits.action_rows:
            errors.add(
                ("components",), "BASE_TYPE_MAX_LENGTH", f"Must be {limits.action_rows} or fewer in length."
            )
        for i, comp in enumerate(components):
            if comp.get("type") != 1:
                errors.add(
                    ("components", i, "type"),
                    "COMPONENT_TYPE_INVALID",
                    "Top-level components must be action rows",
                )
    else:
        total = sum(1 for _ in _walk_components(components, ("components",)))
        if total > limits.v2_total_components:
            errors.add(
                ("components",),
                "COMPONENT_LAYOUT_TOO_MANY",
                f"Must be {limits.v2_total_components} or fewer components in total.",
            )
    seen: set[str] = set()
    for path, comp in _walk_components(components, ("components",)):
        ctype = comp.get("type")
        if ctype == 1:
            children = comp.get("components") or []
            if not children:
                errors.add((*path, "components"), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
            if len(children) > limits.row_components:
                errors.add(
                    (*path, "components"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limits.row_components} or fewer in length.",
                )
            if any(c.get("type") in (3, 5, 6, 7, 8) for c in children) and len(children) > 1:
                errors.add(
                    (*path, "components"),
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "A select menu fills a whole row",
                )
        custom_id = comp.get("custom_id")
        if custom_id is not None:
            _max_len(errors, (*path, "custom_id"), custom_id, limits.custom_id_length)
            if custom_id in seen:
                errors.add(
                    (*path, "custom_id"),
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
        if ctype == 2:
            _max_len(errors, (*path, "label"), comp.get("label"), limits.button_label)
            style = comp.get("style")
            if style == 5:
                if not comp.get("url"):
                    errors.add((*path, "url"), "BASE_TYPE_REQUIRED", "Link buttons need a url")
                if custom_id is not None:
                    errors.add(
                        (*path, "custom_id"),
                        "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                        "Link buttons take no custom_id",
                    )
            elif style != 6 and not custom_id:
                errors.add((*path, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")
            if not comp.get("label") and not comp.get("emoji"):
                errors.add(
                    (*path,), "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or emoji is required"
                )
        if ctype == 3:
            options = comp.get("options") or []
            if not 1 <= len(options) <= limits.select_options:
                errors.add(
                    (*path, "options"),
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {limits.select_options} in length.",
                )


def validate_message_body(data: dict[str, Any], limits: Limits, errors: FormErrors) -> None:
    """Content, embeds and components of a create/edit payload (only keys present are checked)."""
    content = data.get("content")
    if content is not None:
        _max_len(errors, ("content",), content, limits.content_length)
    embeds = data.get("embeds")
    if embeds:
        validate_embeds(embeds, limits, errors)
    components = data.get("components")
    if components:
        validate_components(components, int(data.get("flags") or 0), limits, errors)


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")
_PARSE_TYPES = ("everyone", "roles", "users")
MAX_ALLOWED_IDS = 100


def validate_allowed_mentions(allowed: Any, errors: FormErrors) -> None:
    """Discord's checks on ``allowed_mentions``: known parse types, at most 100 ids per list, and a type
    either parsed or listed, never both."""
    if allowed is None:
        return
    if not isinstance(allowed, dict):
        errors.add(
            ("allowed_mentions",), "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"
        )
        return
    parse = allowed.get("parse") or []
    for i, kind in enumerate(parse):
        if kind not in _PARSE_TYPES:
            errors.add(
                ("allowed_mentions", "parse", i), "BASE_TYPE_CHOICES", f"Value must be one of {_PARSE_TYPES}."
            )
    for kind in ("users", "roles"):
        ids = allowed.get(kind) or []
        if len(ids) > MAX_ALLOWED_IDS:
            errors.add(
                ("allowed_mentions", kind),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_ALLOWED_IDS} or fewer in length.",
            )
        if ids and kind in parse:
            errors.add(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def mentions_in(content: str, allowed: dict[str, Any] | None) -> Mentions:
    """What ``content`` mentions under ``allowed`` (None: the field was absent, so Discord parses every
    mention in the content, @everyone and roles included). Mentions in embeds never ping."""
    if allowed is None:
        parse: set[str] = set(_PARSE_TYPES)
        user_ids: set[int] = set()
        role_ids: set[int] = set()
    else:
        parse = set(allowed.get("parse") or [])
        user_ids = {int(i) for i in allowed.get("users") or []}
        role_ids = {int(i) for i in allowed.get("roles") or []}
    users = [int(m) for m in _USER_MENTION.findall(content)]
    roles = [int(m) for m in _ROLE_MENTION.findall(content)]
    return Mentions(
        everyone="everyone" in parse and _EVERYONE_MENTION.search(content) is not None,
        roles=tuple(sorted({r for r in roles if "roles" in parse or r in role_ids})),
        users=tuple(sorted({u for u in users if "users" in parse or u in user_ids})),
    )


# ---------------------------------------------------------------------------------------------- commands


def _check_name(errors: FormErrors, path: tuple[Any, ...], name: Any, *, chat_input: bool) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        errors.add(path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        return
    if chat_input and (not _NAME_RE.match(name) or name != name.lower()):
        errors.add(path, "APPLICATION_COMMAND_INVALID_NAME", f"Command name is invalid: {name!r}")


def _validate_options(
    options: list[dict[str, Any]], path: tuple[Any, ...], limits: Limits, errors: FormErrors
) -> int:
    """Validates one level of options; returns the character count towards the 4000 total."""
    chars = 0
    if len(options) > limits.command_options:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limits.command_options} or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    kinds = {opt.get("type") in (1, 2) for opt in options}
    if len(kinds) > 1:
        errors.add(
            path, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Sub-commands and plain options cannot be mixed"
        )
    for i, opt in enumerate(options):
        opath = (*path, i)
        name = opt.get("name")
        _check_name(errors, (*opath, "name"), name, chat_input=True)
        if name in names:
            errors.add(
                (*opath, "name"),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        _len_between(errors, (*opath, "description"), opt.get("description"), 1, limits.command_description)
        chars += len(str(name or "")) + len(str(opt.get("description") or ""))
        otype = opt.get("type")
        if otype in (1, 2):
            chars += _validate_options(opt.get("options") or [], (*opath, "options"), limits, errors)
            continue
        if opt.get("required"):
            if seen_optional:
                errors.add(
                    (*opath, "required"),
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > limits.command_choices:
            errors.add(
                (*opath, "choices"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {limits.command_choices} or fewer in length.",
            )
        if choices and opt.get("autocomplete"):
            errors.add(
                (*opath, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                "Autocomplete cannot be used with choices",
            )
        for j, choice in enumerate(choices):
            _len_between(errors, (*opath, "choices", j, "name"), choice.get("name"), 1, 100)
            value = choice.get("value")
            if isinstance(value, str):
                _max_len(errors, (*opath, "choices", j, "value"), value, 100)
            chars += len(str(choice.get("name") or "")) + len(str(value))
        for key in ("min_length", "max_length"):
            if key in opt and opt[key] is not None and not 0 <= int(opt[key]) <= 6000:
                errors.add((*opath, key), "NUMBER_TYPE_MAX", "Must be between 0 and 6000.")
    return chars


def validate_commands(commands: list[dict[str, Any]], limits: Limits) -> FormErrors:
    """Bulk-overwrite body for PUT /applications/{app}/commands (global or guild)."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add((), "BASE_TYPE_ARRAY", "Must be an array")
        return errors
    seen: set[tuple[int, str]] = set()
    chat_input = 0
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type", 1))
        name = cmd.get("name")
        _check_name(errors, (i, "name"), name, chat_input=ctype == 1)
        if (ctype, name) in seen:
            errors.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {name}",
            )
        seen.add((ctype, str(name)))
        if ctype == 1:
            chat_input += 1
            _len_between(errors, (i, "description"), cmd.get("description"), 1, limits.command_description)
            chars = len(str(name or "")) + len(str(cmd.get("description") or ""))
            chars += _validate_options(cmd.get("options") or [], (i, "options"), limits, errors)
            if chars > limits.command_total_chars:
                errors.add((i,), "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")
        elif cmd.get("description"):
            errors.add(
                (i, "description"), "BASE_TYPE_MAX_LENGTH", "Context menu commands take no description"
            )
    if chat_input > limits.chat_input_commands:
        errors.add((), "BASE_TYPE_MAX_LENGTH", f"Must be {limits.chat_input_commands} or fewer in length.")
    return errors


# ---------------------------------------------------------------------------------------------- callbacks

# Allowed callback types per interaction type (PING=1, APPLICATION_COMMAND=2, MESSAGE_COMPONENT=3,
# AUTOCOMPLETE=4, MODAL_SUBMIT=5).
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    1: frozenset({1}),
    2: frozenset({4, 5, 9}),
    3: frozenset({4, 5, 6, 7, 9}),
    4: frozenset({8}),
    5: frozenset({4, 5, 6, 7}),
}


def validate_autocomplete(data: dict[str, Any], limits: Limits, errors: FormErrors) -> None:
    choices = data.get("choices")
    if not isinstance(choices, list):
        errors.add(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return
    if len(choices) > limits.autocomplete_choices:
        errors.add(
            ("data", "choices"),
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {limits.autocomplete_choices} or fewer in length.",
        )
    for i, choice in enumerate(choices):
        _len_between(errors, ("data", "choices", i, "name"), choice.get("name"), 1, 100)
        if isinstance(choice.get("value"), str):
            _max_len(errors, ("data", "choices", i, "value"), choice["value"], 100)


# Modals (callback type 9), as Discord's component reference documents them: 1–5 top-level components,
# each a Label (18) holding one input, a Text Display (10), or (deprecated) an Action Row (1) holding one
# Text Input (4) that then carries its own label.
MODAL_TOP_LEVEL = frozenset({1, 10, 18})
LABEL_CHILDREN = frozenset(
    {3, 4, 5, 6, 7, 8, 19, 21, 22, 23}
)  # inputs, selects, file upload, radios, checkboxes
TEXT_INPUT_STYLES = frozenset({1, 2})
TEXT_INPUT_MAX = 4000
MODAL_LABEL = 45
LABEL_DESCRIPTION = 100
PLACEHOLDER = 100


def validate_modal(data: dict[str, Any], limits: Limits, errors: FormErrors) -> None:
    _len_between(errors, ("data", "title"), data.get("title"), 1, limits.modal_title)
    _len_between(errors, ("data", "custom_id"), data.get("custom_id"), 1, limits.custom_id_length)
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        errors.add(("data", "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
    seen: set[str] = set()
    for i, comp in enumerate(components):
        path = ("data", "components", i)
        kind = comp.get("type")
        if kind not in MODAL_TOP_LEVEL:
            errors.add(
                (*path, "type"), "COMPONENT_TYPE_INVALID", f"Component type {kind} is invalid in a modal"
            )
        elif kind == 18:
            _max_len(errors, (*path, "label"), comp.get("label"), MODAL_LABEL)
            if not comp.get("label"):
                errors.add((*path, "label"), "BASE_TYPE_REQUIRED", "This field is required")
            _max_len(errors, (*path, "description"), comp.get("description"), LABEL_DESCRIPTION)
            child = comp.get("component")
            if not isinstance(child, dict) or child.get("type") not in LABEL_CHILDREN:
                errors.add(
                    (*path, "component"), "COMPONENT_TYPE_INVALID", "A label holds one input component"
                )
            elif child.get("type") == 4:
                if child.get("label") is not None:
                    errors.add(
                        (*path, "component", "label"),
                        "COMPONENT_TEXT_INPUT_LABEL_IN_LABEL",
                        "A text input inside a label takes its label from the label",
                    )
                _validate_text_input(child, (*path, "component"), limits, errors, seen)
        elif kind == 1:
            children = comp.get("components") or []
            if len(children) != 1 or children[0].get("type") != 4:
                errors.add(
                    (*path, "components"),
                    "COMPONENT_LAYOUT_INVALID",
                    "A modal's action row holds one text input",
                )
                continue
            label_path = (*path, "components", 0, "label")
            _len_between(errors, label_path, children[0].get("label"), 1, MODAL_LABEL)
            _validate_text_input(children[0], (*path, "components", 0), limits, errors, seen)


def _validate_text_input(
    comp: dict[str, Any], path: tuple[Any, ...], limits: Limits, errors: FormErrors, seen: set[str]
) -> None:
    custom_id = comp.get("custom_id")
    _len_between(errors, (*path, "custom_id"), custom_id, 1, limits.custom_id_length)
    if custom_id in seen:
        errors.add(
            (*path, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
        )
    seen.add(str(custom_id))
    if comp.get("style") not in TEXT_INPUT_STYLES:
        errors.add((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of {1, 2}.")
    low, high = comp.get("min_length"), comp.get("max_length")
    if low is not None and not 0 <= int(low) <= TEXT_INPUT_MAX:
        errors.add((*path, "min_length"), "NUMBER_TYPE_MAX", f"Must be between 0 and {TEXT_INPUT_MAX}.")
    if high is not None and not 1 <= int(high) <= TEXT_INPUT_MAX:
        errors.add((*path, "max_length"), "NUMBER_TYPE_MAX", f"Must be between 1 and {TEXT_INPUT_MAX}.")
    if low is not None and high is not None and int(low) > int(high):
        errors.add((*path, "min_length"), "BASE_TYPE_BAD_LENGTH", "Must not be more than max_length.")
    value = comp.get("value")
    _max_len(errors, (*path, "value"), value, int(high) if high is not None else TEXT_INPUT_MAX)
    _max_len(errors, (*path, "placeholder"), comp.get("placeholder"), PLACEHOLDER)


def text_inputs(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A modal's text inputs, in order, wherever they sit (a label or an action row)."""
    found: list[dict[str, Any]] = []
    for comp in components:
        if comp.get("type") == 18 and isinstance(comp.get("component"), dict):
            found += text_inputs([comp["component"]])
        elif comp.get("type") == 1:
            found += text_inputs(comp.get("components") or [])
        elif comp.get("type") == 4:
            found.append(comp)
    return found


def check_modal_values(components: list[dict[str, Any]], values: dict[str, str]) -> None:
    """What Discord's client enforces before a user can submit: a value for every required input, each
    within its lengths, and no value for an input the modal does not have (``ValueError`` otherwise)."""
    inputs = {str(c.get("custom_id")): c for c in text_inputs(components)}
    unknown = set(values) - set(inputs)
    if unknown:
        raise ValueError(f"the modal has no text input {sorted(unknown)} (has {sorted(inputs)})")
    for custom_id, comp in inputs.items():
        value = values.get(custom_id, comp.get("value") or "")
        low, high = int(comp.get("min_length") or 0), int(comp.get("max_length") or TEXT_INPUT_MAX)
        if comp.get("required", True) and not value:
            raise ValueError(f"text input {custom_id!r} is required; the client will not submit it empty")
        if value and not low <= len(value) <= high:
            raise ValueError(f"text input {custom_id!r} takes {low}–{high} characters, not {len(value)}")
