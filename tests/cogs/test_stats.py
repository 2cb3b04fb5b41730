"""``/likeness stats`` through the fake Discord: managers only, answered privately with the numbers
and a PNG chart; failures counted by the kind each job's row records."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image

from bot.tiny import TinyBundle
from storage import JobStatus
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    result_message,
    running_bot,
    wait_job_message,
    wait_status,
)
from tests.cogs.test_likeness import WITHOUT_MANAGE
from tests.fakediscord import FakeDiscord


async def test_stats_are_for_managers_with_a_chart_and_failures_by_kind(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    admin, bob, mallory = fake.user, fake.add_user("bob"), fake.add_user("mallory")
    mallory.permissions = WITHOUT_MANAGE
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        await result_message(await generate(fake, admin, "a lighthouse"))
        await result_message(await generate(fake, admin, "a harbour"))
        engine_control.fail_with.append(torch.OutOfMemoryError("CUDA out of memory"))
        failed = await generate(fake, bob, "a storm")
        await wait_status(bot, await wait_job_message(failed), JobStatus.FAILED)
        engine_control.fail_with.append(RuntimeError("the GPU fell over"))
        broken = await generate(fake, bob, "a wreck")
        await wait_status(bot, await wait_job_message(broken), JobStatus.FAILED)
        code_of = "SELECT error_code FROM jobs WHERE id = ?"
        codes = {j.params.prompt: await bot.services.db.fetchval(code_of, (j.id,)) for j in await jobs(bot)}
        assert codes == {
            "a lighthouse": None, "a harbour": None, "a storm": "out_of_memory", "a wreck": "bug"
        }

        refused = await ephemeral_reply(await fake.slash(mallory, "likeness", {}, subcommand="stats"))
        assert refused.content == "only members with the Manage Server permission can use /likeness"
        assert refused.files == []

        reply = await ephemeral_reply(await fake.slash(admin, "likeness", {"days": 3}, subcommand="stats"))
        lines = reply.content.splitlines()
        assert lines[0].startswith(
            "**4 jobs** the last 3 days (UTC) from 2 members: 2 done, 2 failed, 0 cancelled; "
        )
        assert lines[1].startswith(f"Top members: <@{admin.id}> 2 (") and f"<@{bob.id}> 2 (" in lines[1]
        assert lines[2] == "Failures: bug 1, out_of_memory 1"
        assert lines[3] == "Flagged NSFW: 0 outputs (withheld outside age-restricted channels)."
        [chart] = reply.files
        assert chart.filename == "likeness-stats.png" and chart.content_type == "image/png"
        image = Image.open(io.BytesIO(chart.data))
        assert image.format == "PNG" and image.size == (800, 360)
        assert len(set(image.convert("RGB").getdata())) > 2  # bars drawn, not a blank canvas
    fake.assert_no_violations()
