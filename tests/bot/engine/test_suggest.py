"""Prompt suggestions from captions: four usable prompts that follow the family."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.engine.family import Family
from bot.engine.suggest import MAX_WORDS, SD15_TAGS, Captions, suggest
from bot.prompt_syntax import parse, plain_text

CAPTIONS = Captions(
    short="<CAPTION>A woman with red hair standing on a beach.",
    detailed="The image shows a woman with red hair standing on a sandy beach at sunset.",
    more_detailed=(
        "The image shows a young woman with long red hair standing on a sandy beach. She wears a white "
        "linen dress. Behind her the sea is calm and the sky is orange with golden light."
    ),
)


def test_four_prompts_short_detailed_and_two_variants_for_sdxl() -> None:
    short, detailed, *variants = suggest(CAPTIONS, Family.SDXL)
    assert short.prompt == "A woman with red hair standing on a beach."
    assert (
        detailed.prompt.startswith("A young woman with long red hair")
        and "white linen dress" in detailed.prompt
    )
    assert "<" not in short.prompt and "The image shows" not in detailed.prompt
    assert len(variants) == 2 and variants[0].prompt != variants[1].prompt
    for variant in variants:
        assert variant.prompt.startswith("A woman with red hair standing on a beach, as ")
    # the caption already has golden light: the golden-hour variant is not offered
    assert all("golden hour" not in v.prompt for v in variants)


def test_sd15_prompts_end_in_plain_tags_without_weights() -> None:
    for suggestion in suggest(CAPTIONS, Family.SD15):
        assert suggestion.prompt.endswith(f", {SD15_TAGS}")
        assert "(" not in suggestion.prompt and ":1." not in suggestion.prompt


def test_a_long_caption_is_cut_at_a_sentence_to_fit_the_text_encoder() -> None:
    long = Captions("a dog", "a dog", " ".join(f"The dog runs over hill {i}." for i in range(40)))
    detailed = suggest(long, Family.SDXL)[1].prompt
    assert len(detailed.split()) <= MAX_WORDS and detailed.endswith(".")


@given(st.text(max_size=300), st.text(max_size=300), st.text(max_size=300), st.sampled_from(list(Family)))
def test_any_model_output_gives_four_non_empty_prompts(
    short: str, detailed: str, more: str, family: Family
) -> None:
    prompts = suggest(Captions(short, detailed, more), family)
    assert len(prompts) == 4
    assert all(p.prompt.strip() and len(p.prompt.split()) <= MAX_WORDS + 30 for p in prompts)
    for p in prompts:
        parse(p.prompt)  # A1111's syntax reads every one: no bracket of a caption is left unpaired


def test_a_captions_brackets_are_read_as_written() -> None:
    """A prompt reads brackets as weights: a caption's own are escaped, so the engine reads them as
    the caption wrote them."""
    odd = Captions("a man (left) and a dog]", "a man (left) and a dog]", "")
    short = suggest(odd, Family.SDXL)[0].prompt
    assert short == r"A man \(left\) and a dog\]."
    assert plain_text(parse(short)) == "A man (left) and a dog]."
