"""A1111's prompt syntax as fragments: the weights A1111 gives, BREAK, escapes, and the refusals of
an unbalanced bracket with its character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InvalidRequest
from bot.prompt_syntax import ROUND, SQUARE, Fragment, escape, parse, plain_text

# Prose without the syntax's characters and without the word BREAK.
PLAIN = st.text(st.characters(blacklist_characters="\\()[]", blacklist_categories=("Cs",))).filter(
    lambda text: "BREAK" not in text
)


def weights(text: str) -> list[tuple[str, float]]:
    [segment] = parse(text)
    return [(f.text, round(f.weight, 6)) for f in segment]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a (red:1.5) apple", [("a ", 1.0), ("red", 1.5), (" apple", 1.0)]),
        ("(red)", [("red", ROUND)]),
        ("[red]", [("red", round(SQUARE, 6))]),
        ("((red))", [("red", round(ROUND * ROUND, 6))]),
        ("((red:1.5) fruit)", [("red", round(1.5 * ROUND, 6)), (" fruit", ROUND)]),
        ("[(red:1.2)]", [("red", round(1.2 * SQUARE, 6))]),
        ("(red: 0.5 )", [("red", 0.5)]),
        ("(red:-1)", [("red", -1.0)]),
        ("(a) (b)", [("a", ROUND), (" ", 1.0), ("b", ROUND)]),
        ("(a)(b)", [("ab", ROUND)]),  # equal neighbours merge, as A1111's do
        (r"a \(b\) \[c\] d\\e", [(r"a (b) [c] d\e", 1.0)]),
        (r"\((red:1.2)\)", [("(", 1.0), ("red", 1.2), (")", 1.0)]),
        ("photo: a cat", [("photo: a cat", 1.0)]),
        ("", []),
    ],
)
def test_weights_as_a1111_gives_them(text: str, expected: list[tuple[str, float]]) -> None:
    assert weights(text) == [(t, round(w, 6)) for t, w in expected]


def test_break_starts_a_segment_and_works_inside_brackets() -> None:
    assert parse("a cat BREAK a dog") == ((Fragment("a cat"),), (Fragment("a dog"),))
    assert parse("(a BREAK b)") == ((Fragment("a", ROUND),), (Fragment("b", ROUND),))
    assert parse("BREAKFAST BREAK") == ((Fragment("BREAKFAST"),),)  # a last BREAK starts no chunk
    assert parse("a BREAK BREAK b") == ((Fragment("a"),), (Fragment(""),), (Fragment("b"),))
    assert parse("BREAK a") == ((Fragment(""),), (Fragment("a"),))  # A1111's empty first chunk


def test_plain_text_is_what_diffusers_reads_when_nothing_is_weighted() -> None:
    assert plain_text(parse("(word:1.0), a cat")) == "word, a cat"
    assert plain_text(parse("(word:1)")) == plain_text(parse("word")) == "word"
    assert plain_text(parse(r"a \(b\)")) == "a (b)"
    assert plain_text(parse("cat BREAK")) == "cat"
    assert plain_text(parse("")) == ""
    assert plain_text(parse("(word)")) is None
    assert plain_text(parse("a BREAK b")) is None


@given(PLAIN)
def test_text_without_the_syntax_parses_to_itself_at_weight_one(text: str) -> None:
    assert plain_text(parse(text)) == text


@given(st.text())
def test_escaped_text_is_read_literally(text: str) -> None:
    if "BREAK" not in text:
        assert plain_text(parse(escape(text))) == text


@given(PLAIN, st.floats(0.0, 2.0).map(lambda w: round(w, 2)))
def test_a_weight_covers_exactly_its_words(words: str, weight: float) -> None:
    [segment] = parse(f"({escape(words)}:{weight})") if words else ((),)
    assert "".join(f.text for f in segment) == words
    assert all(f.weight == weight for f in segment)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(masterpiece:1.2", "the prompt has a “(” at character 1 that is never closed: close it with “)”"),
        ("a cat)", "the prompt has a “)” at character 6 that closes no “(”: remove it, or write \\)"),
        ("a [cat", "the prompt has a “[” at character 3 that is never closed: close it with “]”"),
        ("a cat]", "the prompt has a “]” at character 6 that closes no “[”"),
        ("a cat:1.2)", "the prompt has a “)” at character 10 that closes no “(”"),
        ("((a) (b)", "the prompt has a “(” at character 1 that is never closed"),
        ("(a:1.2.3)", "the prompt has the weight “1.2.3” at character 4, which is not a number (like 1.2)"),
        ("(a:.)", "the prompt has the weight “.” at character 4"),
    ],
)
def test_an_unbalanced_bracket_is_named_with_its_character(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse(text)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_the_message_names_the_negative() -> None:
    with pytest.raises(InvalidRequest, match=r"^the negative prompt has a “\)” at character 7"):
        parse("blurry)", "negative prompt")
