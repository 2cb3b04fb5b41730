"""Start-up is quiet and current: no deprecation or library notices, one log line per model."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from bot.tiny import TinyBundle
from tests.cogs.harness import bot_settings, running_bot
from tests.fakediscord import FakeDiscord


async def test_a_start_says_one_line_per_model_and_warns_of_nothing(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        async with running_bot(fake_discord, bot_settings(tiny_bundle, data_dir)):
            pass
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    models = [
        r.getMessage() for r in caplog.records if r.name in ("bot.engine.pipelines", "bot.running.worker")
    ]
    assert len(models) == 3, models
    assert models[0].startswith("face analysis insightface: 512-d embeddings on CPU, loaded in ")
    assert models[1].startswith(
        "model sd: SD 1.5, float32 on cpu, native 64 px, sampler DDIMScheduler, loaded in "
    )
    assert models[2].startswith("adapters for SD 1.5: image prompt ip-adapter_tiny.safetensors, face lock ")
    printed = capfd.readouterr()
    assert "%|" not in printed.err  # no library progress bars
