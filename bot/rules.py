"""How one option is declared: the single description every entry point is built from.

A ``Rule`` says what an option is called, what it takes (its type, range or choices with their
labels, its length), what it is when left out, one line of help, and how it is checked and shown.
The slash command's ranges, choices and descriptions, the CLI's flags and the API's body models
(and so ``/openapi.json``) are all generated from these, and a parity test holds them together.

Pure data: no library, no engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.errors import InvalidRequest


class Kind(StrEnum):
    """What an option takes, as every entry point types it."""

    TEXT = "text"
    WHOLE = "whole"  # an integer
    NUMBER = "number"  # a float
    FILE = "file"  # an uploaded picture (an attachment, a path, a multipart file or a URL)


@dataclass(frozen=True, slots=True)
class Rule:
    """How one option is checked, filled in and shown.

    ``option`` is the name users type (the slash-command option, the API field and, with dashes,
    the CLI flag) and what messages call it. ``default`` is what a left-out option takes; None
    leaves it to the job's mode (``mode_defaults``), the server's settings or its other rules, which
    ``help`` then says. A field whose default is ``None`` and that is given for a mode outside
    ``modes`` is refused, since it would be silently ignored. ``png`` names it in the PNG's A1111
    parameters.
    """

    option: str
    help: str = ""  # one line, what it does; the range and default are added where shown
    png: str | None = None
    bounds: tuple[float, float] | None = None
    whole: bool = False
    choices: tuple[str, ...] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # a choice's label where it differs
    length: tuple[int, int] | None = None  # a text's shortest and longest
    default: Any = None
    file: bool = False
    many: bool = False  # a comma list the command line also takes as a repeated flag
    modes: frozenset[Any] | None = None  # the modes that use it; None: every mode
    mode_defaults: Mapping[Any, Any] | None = None
    hint: str = ""  # after a range error: what values usually work
    summary: bool = True  # shown in the result's embed (Info shows every listed field that applies)
    listed: bool = True  # among the settings Info, the embed and the PNG list (not the prompt itself)

    @property
    def label(self) -> str:
        return self.option.replace("_", " ")

    @property
    def kind(self) -> Kind:
        if self.file:
            return Kind.FILE
        if self.whole:
            return Kind.WHOLE
        return Kind.NUMBER if self.bounds is not None else Kind.TEXT

    @property
    def flag(self) -> str:
        return "--" + self.option.replace("_", "-")

    @property
    def described(self) -> str:
        """The help as every entry point shows it: with the range and the default, when it has them."""
        notes = []
        if self.bounds is not None:
            notes.append(f"{number_text(self.bounds[0])}–{number_text(self.bounds[1])}")
        if self.default is not None and self.default != "":
            notes.append(f"default {number_text(self.default)}")
        return f"{self.help} ({', '.join(notes)})" if notes else self.help

    def label_of(self, choice: str) -> str:
        return self.labels.get(choice, choice)

    def applies(self, mode: Any) -> bool:
        return self.modes is None or mode in self.modes

    def check(self, value: Any) -> None:
        """``InvalidRequest`` naming the option when ``value`` is out of its range or choices."""
        if self.bounds is not None:
            low, high = self.bounds
            if not isinstance(value, int | float) or math.isnan(value) or not low <= value <= high:
                raise InvalidRequest(
                    f"{self.option} must be between {number_text(low)} and {number_text(high)} "
                    f"(got {value}){self.hint}"
                )
            if self.whole and not isinstance(value, int):
                raise InvalidRequest(f"{self.option} must be a whole number (got {value})")
        if self.choices is not None and value not in self.choices:
            raise InvalidRequest(f"unknown {self.label} {value!r}: choose one of {', '.join(self.choices)}")

    def check_length(self, value: str) -> None:
        if self.length is not None and len(value) > self.length[1]:
            raise InvalidRequest(f"{self.option} is {len(value)} characters; the limit is {self.length[1]}")


def number_text(value: Any) -> str:
    """``7``, ``0.35``, ``1.5``: a number as users read it (a float without its trailing zeros)."""
    return f"{value:g}" if isinstance(value, float) else str(value)
