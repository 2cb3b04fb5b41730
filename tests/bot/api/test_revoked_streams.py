"""An open ``/events`` stream lasts no longer than its key: revoked (from Discord, the command line or
another process), the stream ends within seconds, while another key's stream of the same job goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.api.events import KEY_CHECK
from bot.tiny import TinyBundle
from tests.bot.api.harness import ApiHarness, api_settings, running_api
from tests.cogs.harness import EngineControl


async def subscribed(api: ApiHarness, job_id: int, count: int) -> None:
    async with asyncio.timeout(10):
        while len(api.api.ctx.events._streams.get(job_id, ())) < count:
            await asyncio.sleep(0.02)


async def test_a_revoked_keys_stream_ends(
    tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        doomed, kept = await api.services.keys.create(1, "doomed"), await api.services.keys.create(1, "kept")
        doomed_key = {"Authorization": f"Bearer {doomed.key}"}
        kept_key = {"Authorization": f"Bearer {kept.key}"}
        engine_control.hold()
        job_id = (await api.submit(kept_key, prompt="a long night")).json()["id"]
        await engine_control.wait_held()  # the job runs, and stays running: only the key can end a stream
        path = f"/v1/jobs/{job_id}/events"
        revoked = asyncio.create_task(api.client.get(path, headers=doomed_key))
        other = asyncio.create_task(api.client.get(path, headers=kept_key))
        await subscribed(api, job_id, 2)
        try:
            await api.services.keys.revoke(doomed.row.id)
            async with asyncio.timeout(KEY_CHECK + 3):
                response = await revoked
            assert response.status_code == 200
            assert "event: progress" in response.text and "event: completed" not in response.text
            assert not other.done()
            again = await api.client.get(path, headers=doomed_key)
            assert again.status_code == 401
        finally:
            engine_control.release()
        async with asyncio.timeout(60):
            finished = await other
        assert "event: completed" in finished.text
