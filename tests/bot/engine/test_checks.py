"""The engine's ``check_inputs``: inputs against the mode and what the engine can do, face lock's route.

The same function runs when a job is submitted and when the engine starts it, so these cases are
what every entry point refuses before anything is stored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.engine.checks import Capabilities, FaceRoute, check_inputs
from bot.engine.config import AdapterSource, EngineConfig
from bot.engine.family import Family
from bot.engine.identity import encode_identity
from bot.errors import InvalidRequest
from bot.jobs import Identity
from bot.params import FaceLock, JobParams, Mode

FULL = Capabilities(image_prompt=True, faceid_dim=512)
NO_FACEID = Capabilities(image_prompt=True, faceid_dim=None)
NOTHING = Capabilities(image_prompt=False, faceid_dim=None)
PRIMARY = Path("primary.png")


def embeddings(count: int = 2, dim: int = 512) -> tuple[bytes, ...]:
    rng = np.random.default_rng(dim + count)
    return tuple(encode_identity(rng.normal(size=dim)) for _ in range(count))


def check(mode: Mode, caps: Capabilities = FULL, *, face: bool = False, **inputs: Any) -> FaceRoute | None:
    params = JobParams("a portrait", mode=mode, face=FaceLock() if face else None)
    return check_inputs(
        params,
        caps,
        image=inputs.get("image", False),
        mask=inputs.get("mask", False),
        identity=inputs.get("identity"),
    )


@pytest.mark.parametrize(
    ("mode", "inputs", "caps", "message"),
    [
        (Mode.IMG2IMG, {}, FULL, "img2img needs an image: attach one, or leave out the mode"),
        (Mode.IMAGE_PROMPT, {}, FULL, "image_prompt needs an image"),
        (Mode.INPAINT, {}, FULL, "inpaint needs an image"),
        (Mode.OUTPAINT, {}, FULL, "outpaint needs an image"),
        (Mode.TEXT, {"image": True}, FULL, "an image was given without a mode that uses it"),
        (Mode.INPAINT, {"image": True}, FULL, "inpaint needs a mask: white where the image should change"),
        (Mode.IMG2IMG, {"image": True, "mask": True}, FULL, "a mask is only used by inpaint"),
        (Mode.TEXT, {"mask": True}, FULL, "a mask is only used by inpaint"),
        (Mode.IMAGE_PROMPT, {"image": True}, NOTHING, "image_prompt is disabled on this bot"),
    ],
)
def test_inputs_that_do_not_fit_the_mode(
    mode: Mode, inputs: dict[str, Any], caps: Capabilities, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check(mode, caps, **inputs)


@pytest.mark.parametrize(
    ("mode", "inputs"),
    [
        (Mode.TEXT, {}),
        (Mode.IMG2IMG, {"image": True}),
        (Mode.IMAGE_PROMPT, {"image": True}),
        (Mode.INPAINT, {"image": True, "mask": True}),
        (Mode.OUTPAINT, {"image": True}),
    ],
)
def test_inputs_that_fit_need_no_face_route(mode: Mode, inputs: dict[str, Any]) -> None:
    assert check(mode, **inputs) is None


def test_faceid_when_the_embeddings_fit() -> None:
    identity = Identity(embeddings(), PRIMARY)
    assert check(Mode.TEXT, face=True, identity=identity) is FaceRoute.FACEID
    assert check(Mode.IMAGE_PROMPT, face=True, image=True, identity=identity) is FaceRoute.FACEID


@pytest.mark.parametrize(
    ("identity", "caps"),
    [
        (Identity(embeddings(), PRIMARY), NO_FACEID),  # no FaceID adapter
        (Identity(embeddings(dim=128), PRIMARY), FULL),  # dlib's 128-d embeddings
        (Identity((), PRIMARY), FULL),  # no reference had a face
    ],
)
def test_the_primary_image_is_the_fallback(identity: Identity, caps: Capabilities) -> None:
    assert check(Mode.IMG2IMG, caps, face=True, image=True, identity=identity) is FaceRoute.IMAGE_PROMPT


@pytest.mark.parametrize(
    ("mode", "image", "identity", "caps", "message"),
    [
        (Mode.TEXT, False, None, FULL, "face lock needs the character's reference images"),
        (Mode.TEXT, False, Identity(), FULL, "face lock needs the character's reference images"),
        (Mode.TEXT, False, Identity(embeddings(33)), FULL, "33 identity embeddings given; the limit is 32"),
        (Mode.TEXT, False, Identity((b"\x00\x01\x02",)), FULL, "not a float32 vector"),
        (Mode.TEXT, False, Identity((b"\x00" * 2048,)), FULL, "zero or not finite"),
        (Mode.TEXT, False, Identity(embeddings(1) + embeddings(1, 128)), FULL, "differ in size"),
        (Mode.TEXT, False, Identity(embeddings()), NO_FACEID, "no IP-Adapter FaceID loaded.*no primary"),
        (
            Mode.TEXT,
            False,
            Identity(embeddings(dim=128)),
            FULL,
            "128-d but FaceID needs 512-d insightface embeddings",
        ),
        (Mode.TEXT, False, Identity(embeddings(), PRIMARY), NOTHING, "no IP-Adapter to fall back on"),
        (
            Mode.IMAGE_PROMPT,
            True,
            Identity(embeddings(dim=128), PRIMARY),
            FULL,
            "face lock cannot be combined with image_prompt on this bot: .* Use img2img",
        ),
    ],
)
def test_face_lock_that_cannot_run_says_why(
    mode: Mode, image: bool, identity: Identity | None, caps: Capabilities, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check(mode, caps, face=True, image=image, identity=identity)


def test_capabilities_follow_the_configuration() -> None:
    adapter = AdapterSource("h94/IP-Adapter", "models", "ip-adapter_sd15.safetensors")
    none = frozenset[tuple[Family, str]]()  # no acceleration LoRA configured: no fast or turbo
    assert Capabilities.of(EngineConfig("m", ip_adapter=adapter, faceid_adapter=adapter)) == replace(
        FULL, speeds=none
    )
    assert Capabilities.of(EngineConfig("m", ip_adapter=adapter)) == replace(NO_FACEID, speeds=none)
    assert Capabilities.of(EngineConfig("m")) == replace(NOTHING, speeds=none)
