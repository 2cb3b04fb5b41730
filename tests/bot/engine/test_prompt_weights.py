"""A1111's prompt syntax through the engine, on both families (tiny SD 1.5 and SDXL, real loaders):
a plain prompt gives the same pixels as ever, ``(word:1)`` the same as ``word``, a weight changes
the picture, a long prompt is read to its end in 75-token chunks, BREAK starts a chunk, and clip
skip, candidates, every mode, LoRAs, styles and embeddings all work on the embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.family import Family
from bot.engine.identity import encode_identity
from bot.engine.metadata import read_parameters
from bot.engine.pipelines import clip_skip_path
from bot.engine.prompts import prompt_arguments
from bot.engine.weighting import EmptyPrompts, prompt_embeddings
from bot.jobs import GenerationResult
from bot.params import parse_loras
from bot.prompt_syntax import parse
from bot.tiny import TinyBundle
from bot.tiny.embeddings import NOOP, NOOP_WORD, STYLE
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, pixels, save

# The tiny tokenizer is byte-level: one token a character (spaces aside). 96 tokens, then the tail.
LONG = "a castle on a hill " * 6
FAMILIES = [Family.SD15, Family.SDXL]


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl_bundle: TinyBundle) -> Iterator[Engine]:
    yield Engine.load(load_settings(tiny_sdxl_bundle.env_file).engine_config)


@pytest.fixture(params=FAMILIES, ids=lambda f: f.value)
def either(request: pytest.FixtureRequest, engine: Engine) -> Engine:
    """The session's SD 1.5 engine, or this module's SDXL one."""
    return engine if request.param is Family.SD15 else request.getfixturevalue("sdxl")


def run(engine: Engine, prompt: str, **options: Any) -> GenerationResult:
    return engine.generate(job_request(**{"prompt": prompt, "steps": 2, "seed": 7, **options}))


def image(engine: Engine, prompt: str, **options: Any) -> np.ndarray:
    return pixels(run(engine, prompt, **options).candidates[0].png)


def arguments(engine: Engine, prompt: str, negative: str = "", skip: int | None = None) -> dict[str, Any]:
    return prompt_arguments(engine.pipes.text, prompt, negative, skip)


def tokens(engine: Engine, text: str) -> int:
    return len(engine.pipes.text.tokenizer(text).input_ids) - 2


def test_a_plain_prompt_is_text_and_weight_one_is_the_same_pixels(either: Engine) -> None:
    """No weight, no BREAK, one chunk: diffusers reads the text itself, as before weights existed."""
    assert arguments(either, "a red apple", "blurry") == {
        "prompt": "a red apple",
        "negative_prompt": "blurry",
        "clip_skip": None,
    }
    assert arguments(either, "(a:1.0) red apple", "(blurry:1)")["prompt"] == "a red apple"
    plain = image(either, "a red apple", negative="blurry")
    written = run(either, "(a:1.0) red (apple:1)", negative="(blurry:1.0)")
    assert np.array_equal(pixels(written.candidates[0].png), plain)  # bit for bit
    fields = read_parameters(written.candidates[0].png)
    assert fields["prompt"] == "(a:1.0) red (apple:1)"  # the PNG keeps the prompt as written
    assert fields["negative"] == "(blurry:1.0)"


def test_a_weight_changes_the_picture(either: Engine) -> None:
    plain = image(either, "red apple")
    up, down = image(either, "(red:1.5) apple"), image(either, "[red] apple")
    assert not np.array_equal(up, plain) and not np.array_equal(down, plain)
    assert not np.array_equal(up, down)
    assert not np.array_equal(
        image(either, "red apple", negative="(blurry:1.4)"), image(either, "red apple", negative="blurry")
    )
    weighted = arguments(either, "(red:1.5) apple")
    assert weighted["prompt_embeds"].shape[1] == 77 and "prompt" not in weighted


@pytest.mark.parametrize("skip", [None, 1, 3])
def test_the_embeddings_read_what_diffusers_reads(either: Engine, skip: int | None) -> None:
    """Unweighted and short, the embeddings path gives diffusers' own encoding exactly, at every
    clip skip: the same layer, the same final layer norm (SD 1.5), the same pooled embedding (SDXL),
    and the negative at the model's own layer, as diffusers reads it."""
    pipe = either.pipes.text
    ours = prompt_embeddings(pipe, parse("a red apple"), parse("blurry"), skip)
    with clip_skip_path(pipe, skip):
        theirs = pipe.encode_prompt(
            "a red apple",
            device=pipe.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt="blurry",
            clip_skip=skip,
        )
    names = ["prompt_embeds", "negative_prompt_embeds"]
    if either.pipes.family is Family.SDXL:
        names += ["pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
    assert set(ours) == set(names)
    for name, tensor in zip(names, theirs, strict=True):
        assert torch.equal(ours[name], tensor), name


def test_a_long_prompt_is_read_to_its_end(either: Engine) -> None:
    assert tokens(either, LONG) > 80  # the words that differ come after token 80
    ends = ("with a red door", "with a big moat")
    pictures = [run(either, LONG + end) for end in ends]
    assert not np.array_equal(*(pixels(p.candidates[0].png) for p in pictures))  # the tail matters
    assert all(not p.warnings for p in pictures)  # nothing is cut, so nothing to warn of
    given = arguments(either, LONG + ends[0], "blurry")
    assert given["prompt_embeds"].shape[1] == given["negative_prompt_embeds"].shape[1] == 2 * 77
    if either.pipes.family is Family.SDXL:
        assert given["pooled_prompt_embeds"].shape == given["negative_pooled_prompt_embeds"].shape


def test_a_long_negative_pads_the_prompt(either: Engine) -> None:
    given = arguments(either, "a cat", LONG + "and blur")
    assert given["prompt_embeds"].shape[1] == given["negative_prompt_embeds"].shape[1] == 2 * 77
    tails = [image(either, "a cat", negative=LONG + end) for end in ("and blur", "and dust")]
    assert not np.array_equal(*tails)


def test_break_starts_a_new_chunk(either: Engine) -> None:
    assert arguments(either, "a cat BREAK a dog")["prompt_embeds"].shape[1] == 2 * 77
    assert arguments(either, "(a cat BREAK a dog BREAK)")["prompt_embeds"].shape[1] == 2 * 77
    assert not np.array_equal(image(either, "a cat BREAK a dog"), image(either, "a cat a dog"))
    assert np.array_equal(image(either, "a cat BREAK"), image(either, "a cat"))  # a last BREAK is nothing


def test_an_empty_negative_is_the_models_own(either: Engine) -> None:
    """SDXL zeroes an empty negative (force_zeros_for_empty_prompt), SD 1.5 reads the empty prompt:
    as with text, whatever the prompt."""
    given = arguments(either, "(a cat:1.2)")
    if either.pipes.family is Family.SDXL:
        assert set(given) == {"prompt_embeds", "pooled_prompt_embeds"}
    else:
        assert given["negative_prompt_embeds"].shape == given["prompt_embeds"].shape


def test_clip_skip_with_a_weighted_prompt(either: Engine) -> None:
    prompt = "a (lighthouse:1.3) at dusk"
    plain, one, two = (image(either, prompt, clip_skip=skip) for skip in (None, 1, 2))
    assert np.array_equal(one, plain) and not np.array_equal(two, one)
    deepest = either.pipes.max_clip_skip
    assert not np.array_equal(image(either, prompt, clip_skip=deepest), two)
    assert not np.array_equal(image(either, LONG + "at dusk", clip_skip=3), image(either, LONG + "at dusk"))


def test_candidates_share_the_embeddings_and_stay_reproducible(either: Engine) -> None:
    """diffusers repeats given embeddings per image, as it repeats its own: candidate k is seed + k
    (alone, within batched rounding, as the text path's candidates are)."""
    prompt = "(red:1.4) apple, " + LONG
    both = run(either, prompt, candidates=2)
    assert [c.seed for c in both.candidates] == [7, 8]
    first, second = (pixels(c.png).astype(int) for c in both.candidates)
    assert not np.array_equal(first, second)
    alone = pixels(run(either, prompt, seed=8).candidates[0].png).astype(int)
    assert np.abs(alone - second).mean() < 2


def test_every_mode_takes_the_embeddings(either: Engine, tmp_path: Path) -> None:
    source = save(gradient_image(64, 64), tmp_path / "source.png")
    mask = save(box_mask(64, 64, (16, 16, 48, 48)), tmp_path / "mask.png")
    prompt = "a (glass:1.3) vase BREAK [dark] background"
    jobs: list[dict[str, Any]] = [
        {"mode": "img2img", "image": source, "strength": 0.6},
        {"mode": "inpaint", "image": source, "mask": mask},
        {"mode": "outpaint", "image": source, "expand": "16:9"},
        {"mode": "image_prompt", "image": source},
        {"mode": "text", "image": source, "structure": "canny"},
        {"mode": "img2img", "image": source, "strength": 0.6, "structure": "depth"},
    ]
    for job in jobs:
        result = run(either, prompt, **job)
        assert result.candidates, job
        assert read_parameters(result.candidates[0].png)["prompt"] == prompt


def test_face_lock_takes_the_embeddings(either: Engine) -> None:
    face = (encode_identity(np.random.default_rng(3).normal(size=512)),)
    weighted = run(either, "a (portrait:1.3)", identity=face, identity_weight=0.8)
    assert weighted.candidates and not weighted.warnings


def test_a_lora_on_the_text_encoder_counts_and_leaves_nothing_behind(engine: Engine) -> None:
    """The weighted embeddings are made per job: a LoRA's text-encoder weights count, and the next
    job without it reads the encoder as it was (compel's cached empty prompt does not outlive a job)."""
    prompt = "a (red:1.5) apple"
    before = image(engine, prompt)
    with_lora = run(engine, prompt + " <lora:ink:1>")
    assert not np.array_equal(pixels(with_lora.candidates[0].png), before)
    assert read_parameters(with_lora.candidates[0].png)["prompt"] == "a (red:1.5) apple, <lora:ink:1>"
    assert np.array_equal(image(engine, prompt), before)


def test_the_empty_prompt_is_encoded_once_per_encoder_layer_and_lora_set(engine: Engine) -> None:
    """A weighted prompt is measured from the empty prompt's encoding: kept between jobs it saves a
    text-encoder pass each, gives the same numbers as encoding it afresh, and a LoRA on the text
    encoder (which changes the empty prompt too) gets its own."""
    cache = engine.empty_prompts = EmptyPrompts()  # counted from here, whatever ran before
    first = run(engine, "a (red:1.5) apple")
    held = cache.encodes
    assert held == 1  # SD 1.5, no clip skip: one encoder, one layer for the prompt and the negative
    again = run(engine, "a (blue:1.3) pear")
    assert cache.encodes == held and again.candidates  # no new pass for the same encoder and layer
    assert np.array_equal(
        pixels(run(engine, "a (red:1.5) apple").candidates[0].png), pixels(first.candidates[0].png)
    )
    pipe, segments = engine.pipes.text, parse("a (red:1.5) apple")
    cached = prompt_embeddings(pipe, segments, parse("blurry"), None, cache.under(()))
    assert torch.equal(
        cached["prompt_embeds"], prompt_embeddings(pipe, segments, parse("blurry"), None)["prompt_embeds"]
    )
    run(engine, "a (red:1.5) apple <lora:ink:1>")
    assert cache.encodes == held + 1  # the LoRA's encoder: an empty prompt of its own
    engine.active_loras.activate(pipe, parse_loras("ink:1"), engine.pipes.family, engine.pipes.cross_width)
    try:
        state = engine.active_loras.state
        assert state
        lora_cached = prompt_embeddings(pipe, segments, parse("blurry"), None, cache.under(state))
        fresh = prompt_embeddings(pipe, segments, parse("blurry"), None)
        assert torch.equal(lora_cached["prompt_embeds"], fresh["prompt_embeds"])
        assert not torch.equal(lora_cached["prompt_embeds"], cached["prompt_embeds"])
    finally:
        engine.active_loras.activate(pipe, (), engine.pipes.family, engine.pipes.cross_width)


def test_a_style_preset_wraps_a_weighted_prompt(either: Engine) -> None:
    styled = run(either, "(red:1.5) apple", style="vintage")
    assert styled.candidates and not styled.warnings
    assert not np.array_equal(pixels(styled.candidates[0].png), image(either, "(red:1.5) apple"))
    assert read_parameters(styled.candidates[0].png)["prompt"] == "(red:1.5) apple"


def test_embeddings_by_name_in_a_weighted_prompt(either: Engine) -> None:
    """A textual-inversion token reads in the embeddings as in diffusers' text: one holding the word
    ``x``'s vector changes nothing; a two-vector one is spelled out (``name name_1``) as diffusers
    spells it, so the unweighted embeddings equal diffusers' own encoding."""
    assert np.array_equal(
        image(either, f"a ({NOOP}:1.3) lighthouse"), image(either, f"a ({NOOP_WORD}:1.3) lighthouse")
    )
    styled = run(either, f"a lighthouse, ({STYLE}:1.2)")
    assert read_parameters(styled.candidates[0].png)["TI hashes"].startswith(f"{STYLE}: ")
    assert not np.array_equal(
        pixels(styled.candidates[0].png), image(either, f"a lighthouse, ({NOOP_WORD}:1.2)")
    )
    pipe = either.pipes.text
    ours = prompt_embeddings(pipe, parse(f"a {STYLE}"), parse(""), None)["prompt_embeds"]
    theirs = pipe.encode_prompt(
        f"a {STYLE}", device=pipe.device, num_images_per_prompt=1, do_classifier_free_guidance=False
    )[0]
    assert torch.equal(ours, theirs)
