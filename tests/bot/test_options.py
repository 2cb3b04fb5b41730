"""``bot.options.job_params``: the one way from an entry point's values to ``JobParams``."""

from __future__ import annotations

import pytest

from bot.errors import InvalidRequest
from bot.options import OPTIONS, job_params
from bot.params import FaceLock, LoraUse, Mode, default_mode


def test_left_out_options_take_their_declared_defaults() -> None:
    params = job_params({"prompt": "a boat"}, image=False)
    assert (params.candidates, params.image_weight, params.aspect) == (1, 0.6, "1:1")
    assert params.steps is None and params.seed is None and params.face is None  # the server's, random
    assert params.cfg is None and params.speed is None  # the speed's (7 in quality), the server's speed
    assert job_params({"prompt": "a boat", "cfg": None, "lora": None}, image=False) == params


@pytest.mark.parametrize(
    ("image", "describe", "mode"),
    [
        (False, False, Mode.TEXT),
        (True, False, Mode.IMG2IMG),
        (False, True, Mode.IMG2IMG),
        (True, True, Mode.IMG2IMG),
    ],
)
def test_the_default_mode(image: bool, describe: bool, mode: Mode) -> None:
    assert default_mode(image=image, describe=describe) is mode
    values = {"prompt": "x", "describe": "standard" if describe else None}
    assert job_params(values, image=image).mode is mode


def test_face_lock_and_loras_come_from_their_options() -> None:
    params = job_params(
        {
            "prompt": "x",
            "character": "Mara",
            "character_weight": 1.1,
            "identity_mode": "mean",
            "lora": "ink:0.5, glow",
            "lora_weight": 0.7,
        },
        image=True,
    )
    assert params.face == FaceLock(weight=1.1, mode="mean")
    assert params.loras == (LoraUse("ink", 0.5), LoraUse("glow", 0.7))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"mode": "sketch"},
            "unknown mode 'sketch': choose one of img2img, image_prompt, inpaint, outpaint, text",
        ),
        ({"lora": "ink", "lora_weight": 3.0}, "lora_weight must be between -2 and 2 (got 3.0)"),
        ({"style": "x" * 51}, "style is 51 characters; the limit is 50"),
        ({"character": "x" * 101}, "character is 101 characters; the limit is 100"),
        ({"min_identity": 0.5}, "min_identity and max_tries score faces against a character"),
    ],
)
def test_bad_values_read_as_declared(values: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        job_params({"prompt": "a boat", **values}, image=True)


def test_a_value_for_no_option_is_a_bug_not_a_user_error() -> None:
    with pytest.raises(ValueError, match="not job options: scheduler"):
        job_params({"prompt": "x", "scheduler": "Euler a"}, image=False)
    with pytest.raises(ValueError, match="not job options: image"):  # files are not values
        job_params({"prompt": "x", "image": b""}, image=True)


def test_every_option_is_named_once() -> None:
    assert len(OPTIONS) == len({rule.option for rule in OPTIONS.values()})
    assert all(name == rule.option for name, rule in OPTIONS.items())
