"""Several checkpoints over the API: ``GET /v1/models``, a job's ``model`` run on that model's family
and shown in its ``parameters``, and an unknown name refused with the names before anything is stored."""

from __future__ import annotations

from pathlib import Path

from bot.app.settings import load_settings
from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from tests.bot.api.harness import running_api


async def test_models_are_listed_chosen_and_refused_by_name(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    settings = load_settings(tiny_bundle.models_env, data_dir=data_dir, default_steps=2, api_port=8765)
    async with running_api(settings) as api:
        key = await api.key(7)
        listed = (await api.client.get("/v1/models", headers=key)).json()
        assert listed == {
            "models": [
                {"name": "tiny-sd15", "family": "SD 1.5", "loaded": 1, "default": True},
                {"name": "tiny-sdxl", "family": None, "loaded": 0, "default": False},
            ],
            "kept_loaded": "1 model",
        }
        assert (await api.client.get("/v1/models")).status_code == 401

        created = await api.submit(key, prompt="a lighthouse", model="tiny-sdxl", seed=3)
        assert created.status_code == 202, created.text
        job = await api.wait_for(key, created.json()["id"], "succeeded")
        assert job["parameters"]["model"] == "tiny-sdxl" and job["parameters"]["clip_skip"] == 2
        png = (await api.client.get(job["outputs"][0]["url"], headers=key)).content
        assert read_parameters(png)["Model"] == "tiny-sdxl"
        after = (await api.client.get("/v1/models", headers=key)).json()["models"]
        assert after[1] == {"name": "tiny-sdxl", "family": "SDXL", "loaded": 1, "default": False}

        before = len(await api.services.jobs.user_jobs(7))
        refused = await api.submit(key, prompt="a lighthouse", model="sd3")
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == "unknown model 'sd3': choose one of tiny-sd15, tiny-sdxl"
        assert len(await api.services.jobs.user_jobs(7)) == before
