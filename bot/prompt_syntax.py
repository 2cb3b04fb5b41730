"""A1111's prompt syntax, read into weighted fragments: ``(word:1.2)``, ``(word)`` (×1.1), ``[word]``
(÷1.1), nested, ``\\(`` ``\\)`` ``\\[`` ``\\]`` for the brackets themselves, and ``BREAK``, which starts
a new 75-token chunk.

The algorithm is A1111's ``parse_prompt_attention`` (``modules/prompt_parser.py``): the same token
regex, the same bracket stacks, equal neighbours merged. Two differences, both on purpose: an
unbalanced bracket is refused (A1111 silently weights to the end or reads it as a word), so a
typo such as ``(masterpiece:1.2`` is caught before the job queues; and ``BREAK`` is a separator of
its own, so it still works inside brackets (A1111 then reads it as the word).

Plain Python: every entry point checks a prompt with it at submit time, without the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import InvalidRequest

ROUND = 1.1  # (word)
SQUARE = 1 / 1.1  # [word]

_TOKEN = re.compile(r"\\[()\[\]\\]|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:")
_BREAK = re.compile(r"\s*\bBREAK\b\s*")
_SPECIAL = re.compile(r"([\\()\[\]])")


@dataclass(frozen=True, slots=True)
class Fragment:
    """A run of prompt text and the weight its brackets give it."""

    text: str
    weight: float = 1.0


Segment = tuple[Fragment, ...]  # the fragments between two BREAKs


def parse(text: str, what: str = "prompt") -> tuple[Segment, ...]:
    """``text`` as its ``BREAK``-separated segments of weighted fragments; ``InvalidRequest`` naming
    the character of the first unbalanced bracket or unreadable weight (``what`` names the text)."""
    pieces: list[list[str | float] | None] = []  # [text, weight]; None is a BREAK
    opened: dict[str, list[tuple[int, int]]] = {"(": [], "[": []}  # (first piece, character)

    def close(bracket: str, at: int, factor: float) -> None:
        if not opened[bracket]:
            closer = ")" if bracket == "(" else "]"
            raise InvalidRequest(
                f"the {what} has a “{closer}” at character {at + 1} that closes no “{bracket}”: "
                f"remove it, or write \\{closer} for the bracket itself"
            )
        start, _ = opened[bracket].pop()
        for piece in pieces[start:]:
            if piece is not None:
                piece[1] = float(piece[1]) * factor

    for match in _TOKEN.finditer(text):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            pieces.append([token[1:], 1.0])
        elif token in ("(", "["):
            opened[token].append((len(pieces), match.start()))
        elif weight is not None:
            close("(", match.end() - 1, _weight(weight, what, match.start(1)))
        elif token == ")":
            close("(", match.start(), ROUND)
        elif token == "]":
            close("[", match.start(), SQUARE)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index:
                    pieces.append(None)
                pieces.append([part, 1.0])
    left = sorted((at, bracket) for bracket, stack in opened.items() for _, at in stack)
    if left:
        at, bracket = left[0]
        closer = ")" if bracket == "(" else "]"
        raise InvalidRequest(
            f"the {what} has a “{bracket}” at character {at + 1} that is never closed: "
            f"close it with “{closer}”, or write \\{bracket} for the bracket itself"
        )
    return _segments(pieces)


def plain_text(segments: tuple[Segment, ...]) -> str | None:
    """The text the encoder reads when nothing is weighted and nothing BREAKs (brackets and escapes
    resolved, so ``(word:1)`` reads as ``word``); None when weights or chunks must be built."""
    if len(segments) > 1 or any(f.weight != 1.0 for segment in segments for f in segment):
        return None
    return "".join(f.text for segment in segments for f in segment)


def escape(text: str) -> str:
    """``text`` with its brackets and backslashes escaped, so the syntax reads it literally."""
    return _SPECIAL.sub(r"\\\1", text)


def _weight(given: str, what: str, at: int) -> float:
    try:
        return float(given)
    except ValueError:
        raise InvalidRequest(
            f"the {what} has the weight “{given}” at character {at + 1}, which is not a number (like 1.2)"
        ) from None


def _segments(pieces: list[list[str | float] | None]) -> tuple[Segment, ...]:
    """Split at the BREAKs and merge equal neighbours (an empty fragment still parts its neighbours:
    A1111 tokenizes them apart); a BREAK at the very end starts no chunk (A1111 adds a last chunk
    only when it holds something)."""
    segments: list[list[Fragment]] = [[]]
    for piece in pieces:
        if piece is None:
            segments.append([])
            continue
        text, weight = str(piece[0]), float(piece[1])
        current = segments[-1]
        if current and current[-1].weight == weight:
            current[-1] = Fragment(current[-1].text + text, weight)
        else:
            current.append(Fragment(text, weight))
    if len(segments) > 1 and not any(f.text.strip() for f in segments[-1]):
        segments.pop()
    return tuple(tuple(segment) for segment in segments)
