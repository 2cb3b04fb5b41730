"""Our PNGs through a third-party A1111 metadata reader (sd-parsers, from PyPI), not our own parser:
it finds the prompt, the negative, the seed, steps, CFG, sampler and schedule type, the model and
its hash, clip skip and the LoRAs' and embeddings' hashes, as model sites and PNG viewers would."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

from PIL import Image
from sd_parsers import ParserManager
from sd_parsers.data import Generators

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.params import LoraUse
from bot.tiny import TinyBundle
from bot.tiny.embeddings import STYLE
from tests.bot.engine.helpers import job_request


def test_a_third_party_reader_finds_every_setting(tiny_bundle: TinyBundle) -> None:
    config = replace(
        load_settings(tiny_bundle.env_file).engine_config,
        model=str(tiny_bundle.single_file),
        model_config=str(tiny_bundle.sd),
        offline=True,
        name="",  # named after its file, as a one-model setup of it would be
    )
    engine = Engine.load(config)
    request = job_request(
        prompt="a lighthouse at dusk",
        negative=f"blurry, low quality, {STYLE}",
        steps=3,
        seed=41,
        cfg=6.5,
        sampler="DPM++ 2M SDE",
        schedule="Karras",
        clip_skip=2,
        loras=(LoraUse("ink", 0.8),),
    )
    png = engine.generate(request).candidates[0].png
    info = ParserManager().parse(Image.open(io.BytesIO(png)))
    assert info is not None and info.generator is Generators.AUTOMATIC1111
    [sampler] = info.samplers
    assert sampler.name == "DPM++ 2M SDE"
    assert sampler.parameters == {"scheduler": "Karras", "cfg_scale": "6.5", "seed": "41", "steps": "3"}
    assert [p.value for p in sampler.prompts] == ["a lighthouse at dusk, <lora:ink:0.8>"]
    assert [p.value for p in sampler.negative_prompts] == [f"blurry, low quality, {STYLE}"]
    model_hash = hashlib.sha256(tiny_bundle.single_file.read_bytes()).hexdigest()[:10]  # A1111's AutoV2
    assert sampler.model is not None
    assert (sampler.model.name, sampler.model.hash) == ("single-file", model_hash)
    assert info.metadata["Clip skip"] == "2"
    lora = _addnet_hash(tiny_bundle.lora_dir / "ink.safetensors")
    embedding = hashlib.sha256((tiny_bundle.embedding_dir / f"{STYLE}.pt").read_bytes()).hexdigest()[:12]
    assert info.metadata["Hashes"] == {"model": model_hash, f"embed:{STYLE}": embedding, "lora:ink": lora}


def _addnet_hash(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha256(data[8 + int.from_bytes(data[:8], "little") :]).hexdigest()[:12]
