"""``/likeness`` through the fake Discord: settings for members with Manage Server only (the bot reads
the member's permission bits itself), checked, kept across a restart, shown and reset one by one, and
obeyed by /generate and the buttons; the blocklist; bans through commands, buttons and the API; the
daily quota across Discord and the API, with refunds. Every refusal is private and changes nothing."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.api.app import Api
from bot.app.client import LikenessBot
from bot.tiny import TinyBundle
from storage import JobStatus
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    png_attachment,
    private_error,
    result_message,
    running_bot,
    wait_job_message,
    wait_status,
)
from tests.fakediscord import FakeDiscord, FakeInteraction, FakeUser
from tests.fakediscord.payloads import ALL_PERMISSIONS

MANAGE_GUILD, ADMINISTRATOR, SEND_MESSAGES = 1 << 5, 1 << 3, 1 << 11
WITHOUT_MANAGE = str(int(ALL_PERMISSIONS) & ~MANAGE_GUILD & ~ADMINISTRATOR)


async def likeness(
    fake: FakeDiscord,
    user: FakeUser | None,
    sub: str,
    options: dict[str, Any] | None = None,
    group: str | None = None,
) -> str:
    """Run a /likeness command and return its private answer."""
    interaction = await fake.slash(user, "likeness", options or {}, subcommand=sub, group=group)
    reply = await ephemeral_reply(interaction)
    return reply.content


async def settings_of(bot: LikenessBot) -> list[tuple[Any, ...]]:
    rows = await bot.services.db.fetchall("SELECT guild_id, name, value FROM guild_settings ORDER BY name")
    return [tuple(r) for r in rows]


@contextlib.asynccontextmanager
async def api_client(bot: LikenessBot) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP API on the running bot's own services, as ``python -m bot run`` serves it."""
    api = Api(bot.services, webhook_base_delay=0.05)
    await api.start()
    try:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://likeness.test", timeout=60
        ) as client:
            yield client
    finally:
        await api.stop()


async def test_settings_need_manage_server_survive_a_restart_and_bind_jobs_and_buttons(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    admin, mallory = fake.user, fake.add_user("mallory")
    mallory.permissions = WITHOUT_MANAGE
    fake.everyone_permissions = WITHOUT_MANAGE  # so that the channel overwrite below counts
    closed = fake.add_channel("announcements")
    fake.channels[closed]["permission_overwrites"] = [
        {"id": str(fake.bot_user.id), "type": 1, "allow": "0", "deny": str(SEND_MESSAGES)}
    ]
    log = fake.add_channel("bot-log")
    settings = bot_settings(tiny_bundle, data_dir)
    async with running_bot(fake, settings) as bot:
        synced = next(c for c in fake.synced_commands if c["name"] == "likeness")
        assert int(synced["default_member_permissions"]) == MANAGE_GUILD

        # Without Manage Server: refused, whatever Discord's default permissions let through.
        for sub, group, options in (
            ("show", "settings", {}),
            ("set", "settings", {"name": "steps", "value": "5"}),
            ("add", "blocklist", {"entry": "gore"}),
            ("ban", None, {"member": admin}),
        ):
            answer = await likeness(fake, mallory, sub, options, group)
            assert answer == "only members with the Manage Server permission can use /likeness"
        assert await settings_of(bot) == []

        # A job made before the limits, for the Reroll below.
        first = await generate(fake, admin, "a lighthouse", steps=8, seed=3)
        earlier = await result_message(first)

        assert (
            await likeness(fake, admin, "set", {"name": "steps", "value": "6"}, "settings")
            == "`steps` is now 6"
        )
        await likeness(fake, admin, "set", {"name": "max_steps", "value": "7"}, "settings")
        await likeness(fake, admin, "set", {"name": "modes", "value": "text, img2img"}, "settings")
        await likeness(fake, admin, "set", {"name": "negative", "value": "blurry"}, "settings")
        assert await likeness(fake, admin, "add", {"entry": "gore"}, "blocklist") == (
            "added: the blocklist holds 1 entry"
        )
        before = await settings_of(bot)

        # Bad input: a clear private refusal each, and nothing changes.
        refusals = {
            (
                "set",
                "settings",
                "max_steps",
                "150",
            ): "max_steps 150 is looser than this bot's limit of 100 steps",
            ("set", "settings", "steps", "0"): "steps must be between 1 and 100 (got 0)",
            ("set", "settings", "steps", "9"): "steps 9 is over this server's max_steps of 7",
            (
                "set",
                "settings",
                "max_candidates",
                "9",
            ): "max_candidates 9 is looser than this bot's limit of 4",
            (
                "add",
                "blocklist",
                "entry",
                "/nud(e/",
            ): "that blocklist pattern is not a valid regular expression",
        }
        for (sub, group, name, value), message in refusals.items():
            options = {"entry": value} if sub == "add" else {"name": name, "value": value}
            assert message in await likeness(fake, admin, sub, options, group)
        answer = await likeness(fake, admin, "log", {"channel": closed}, "settings")
        assert answer.startswith(f"the bot cannot post in <#{closed}> (it lacks Send Messages")
        assert await settings_of(bot) == before

        assert await likeness(fake, admin, "log", {"channel": log}, "settings") == (
            f"jobs, refusals and bans are now logged in <#{log}>"
        )
        jobs_before = len(await jobs(bot))

    async with running_bot(fake, settings) as bot:  # a new process: the settings come from the database
        shown = await likeness(fake, admin, "show", {}, "settings")
        for line in (
            "`steps`: 6",
            "`max_steps`: 7",
            "`modes`: img2img, text",
            "`negative`: blurry",
            "`blocklist`: gore",
            f"`log_channel`: <#{log}>",
            "`daily_jobs`: not set",
        ):
            assert line in shown
        assert shown.count("\n") == 14

        # The defaults fill in what a job leaves out; the limits refuse what passes them.
        job = await generate(fake, admin, "a harbour at night")
        await result_message(job)
        made = (await jobs(bot))[-1]
        assert (made.params.steps, made.params.negative, made.guild_id) == (6, "blurry", fake.guild_id)
        for options, message in (
            ({"steps": 10}, "steps 10 is over this server's limit of 7: choose 7 or fewer"),
            (
                {"mode": "image_prompt", "image": png_attachment(fake)},
                "this server does not allow mode image_prompt",
            ),
            (
                {"prompt": "a GORE scene"},
                "your prompt contains something this server's blocklist does not allow",
            ),
            ({"negative": "gore"}, "your negative prompt contains something this server's blocklist"),
        ):
            refused = await generate(fake, admin, **({"prompt": "a harbour"} | options))
            text = await private_error(fake, refused)
            assert message in text and "gore" not in text.lower()
        # The model's size, known once it has loaded, against the server's megapixels.
        await likeness(fake, admin, "set", {"name": "max_megapixels", "value": "0.001"}, "settings")
        native = bot.services.runner.capabilities_for(None).native
        assert native is not None
        too_big = await private_error(fake, await generate(fake, admin, "a harbour"))
        model = bot.services.runner.models.default
        assert too_big.startswith(f"model {model} makes {native}×{native} px images (")
        assert too_big.endswith("over this server's limit of 0.001: choose a smaller model")
        await likeness(fake, admin, "reset", {"name": "max_megapixels"}, "settings")
        # Buttons obey the limits too: the earlier job's 8 steps are over the new max.
        reroll = await fake.click(admin, earlier, f"lk:reroll:{first_job(earlier)}")
        assert "steps 8 is over this server's limit of 7" in (await ephemeral_reply(reroll)).content
        assert len(await jobs(bot)) == jobs_before + 1

        assert (
            await likeness(fake, admin, "reset", {"name": "steps"}, "settings")
            == "`steps` is back to the bot's own"
        )
        assert await likeness(fake, admin, "reset", {"name": "steps"}, "settings") == "`steps` was not set"
        assert await likeness(fake, admin, "remove", {"entry": "GORE"}, "blocklist") == (
            "removed: the blocklist holds 0 entries"
        )
        shown = await likeness(fake, admin, "show", {}, "settings")
        assert "`steps`: not set" in shown and "`blocklist`: not set" in shown
        assert ("steps",) not in [(name,) for _, name, _ in await settings_of(bot)]
    fake.assert_no_violations()


def first_job(message: Any) -> int:
    custom = next(c for c in message.custom_ids if c.startswith("lk:reroll:"))
    return int(custom.rsplit(":", 1)[1])


async def test_bans_through_commands_buttons_and_the_api(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    owner, bob, carol = fake.user, fake.add_user("bob"), fake.add_user("carol")  # carol manages too
    settings = bot_settings(tiny_bundle, data_dir, owner_ids=f"{owner.id}, 12345")
    async with running_bot(fake, settings) as bot, api_client(bot) as api:
        key = await bot.services.keys.create(bob.id)
        headers = {"Authorization": f"Bearer {key.key}"}
        earlier = await result_message(await generate(fake, owner, "a lighthouse"))
        job = first_job(earlier)

        # Bob's job waits behind the owner's, which the engine holds.
        engine_control.hold()
        running = await generate(fake, owner, "a long one")
        await engine_control.wait_held()
        queued = await generate(fake, bob, "bob's harbour")
        bobs = await wait_job_message(queued)
        assert (await bot.services.jobs.get(bobs)).status is JobStatus.QUEUED  # type: ignore[union-attr]

        # Banning oneself or the bot is refused, and nothing is stored.
        assert await likeness(fake, owner, "ban", {"member": owner}) == "you cannot ban yourself"
        assert "the bot cannot be banned" in await likeness(fake, owner, "ban", {"member": fake.bot_user})
        assert "only the bot's owner (LIKENESS_OWNER_IDS) can ban someone everywhere" in await likeness(
            fake, carol, "ban", {"member": bob, "everywhere": True}
        )
        assert await bot.services.db.fetchval("SELECT COUNT(*) FROM bans") == 0

        answer = await likeness(
            fake, carol, "ban", {"member": bob, "reason": "spamming the queue", "days": 2}
        )
        assert answer.startswith(f"<@{bob.id}> is banned from the bot in this server until ")
        assert answer.endswith("; 1 queued job(s) of theirs cancelled")
        assert (await wait_status(bot, bobs, JobStatus.CANCELLED)).status is JobStatus.CANCELLED
        engine_control.release()
        await result_message(running)

        until = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d")
        reason = f"you are banned from using this bot in this server until {until}"
        for attempt in (
            generate(fake, bob, "again"),
            fake.slash(bob, "queue"),
            fake.click(bob, earlier, f"lk:reroll:{job}"),
            fake.click(bob, earlier, f"lk:info:{job}"),
            fake.click(bob, earlier, f"lk:vary:{job}:0"),
        ):
            interaction: FakeInteraction = await attempt
            text = await private_error(fake, interaction)
            assert text.startswith(reason) and text.endswith(": spamming the queue")
        # A server's ban leaves the API alone.
        assert (await api.get("/v1/jobs", headers=headers)).status_code == 200
        listed = await likeness(fake, owner, "bans")
        assert f"• <@{bob.id}>: spamming the queue, until <t:" in listed and f"by <@{carol.id}>" in listed

        # The owner's ban holds everywhere: the API refuses bob's keys with the reason.
        await likeness(fake, owner, "ban", {"member": bob, "reason": "abuse", "everywhere": True})
        refused = await api.get("/v1/jobs", headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"] == {
            "code": "banned",
            "message": "you are banned from using this bot everywhere, by the bot's owner: abuse",
        }
        posted = await api.post("/v1/jobs", json={"prompt": "a fox"}, headers=headers)
        assert posted.status_code == 403
        assert "(everywhere, by the owner)" in await likeness(fake, owner, "bans")

        assert "that member is not banned everywhere" not in await likeness(
            fake, owner, "unban", {"member": bob, "everywhere": True}
        )
        assert await likeness(fake, owner, "unban", {"member": bob, "everywhere": True}) == (
            "that member is not banned everywhere"
        )
        assert (await api.get("/v1/jobs", headers=headers)).status_code == 200
        assert (
            await likeness(fake, carol, "unban", {"member": bob}) == f"<@{bob.id}> may use the bot again here"
        )
        await result_message(await generate(fake, bob, "welcome back"))
        assert await likeness(fake, owner, "bans") == "nobody is banned from the bot here"
    fake.assert_no_violations()


async def test_the_daily_quota_counts_discord_and_the_api_and_refunds_failures(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    admin, bob = fake.user, fake.add_user("bob")
    settings = bot_settings(tiny_bundle, data_dir, daily_jobs=3)  # the bot-wide cap
    async with running_bot(fake, settings) as bot, api_client(bot) as api:
        headers = {"Authorization": f"Bearer {(await bot.services.keys.create(bob.id)).key}"}
        looser = await likeness(fake, admin, "set", {"name": "daily_jobs", "value": "4"}, "settings")
        assert looser.startswith("daily_jobs 4 is looser than this bot's limit of 3 jobs a day")
        await likeness(fake, admin, "set", {"name": "daily_jobs", "value": "2"}, "settings")

        # A job that fails on the bot's side is given back, from Discord and from the API alike.
        engine_control.fail_with.append(RuntimeError("the GPU fell over"))
        failed = await generate(fake, bob, "a fox")
        await wait_status(bot, await wait_job_message(failed), JobStatus.FAILED)
        await result_message(await generate(fake, bob, "a fox, again"))  # 1 of 2 here
        engine_control.fail_with.append(RuntimeError("the GPU fell over"))
        broken = await api.post("/v1/jobs", json={"prompt": "a fox"}, headers=headers)
        assert broken.status_code == 202
        await wait_status(bot, broken.json()["id"], JobStatus.FAILED)
        counted = await api.post("/v1/jobs", json={"prompt": "a fox"}, headers=headers)
        assert counted.status_code == 202  # 2 of 2 here: the API's jobs count in every server
        await wait_status(bot, counted.json()["id"], JobStatus.DONE)

        queue = (await ephemeral_reply(await fake.slash(bob, "queue"))).content
        assert "Today you have 0 of 2 jobs left (the day resets at 00:00 UTC)." in queue
        before = len(await jobs(bot))
        refused = await private_error(fake, await generate(fake, bob, "one more"))
        midnight = datetime.now(UTC).date() + timedelta(days=1)
        assert refused == (
            "you have used this server's daily quota of 2 jobs (the day is counted in UTC, across Discord "
            f"and the API): it resets at 00:00 UTC on {midnight.isoformat()}; failed and cancelled jobs "
            "are given back"
        )
        earlier = await result_message(await generate(fake, admin, "the admin's own"))  # others go on
        reroll = await fake.click(bob, earlier, f"lk:reroll:{first_job(earlier)}")
        assert "daily quota of 2 jobs" in (await ephemeral_reply(reroll)).content
        assert len(await jobs(bot)) == before + 1

        # The API answers with the bot-wide cap: 3 of 3, then 429 until midnight.
        assert (await api.post("/v1/jobs", json={"prompt": "a fox"}, headers=headers)).status_code == 202
        over = await api.post("/v1/jobs", json={"prompt": "a fox"}, headers=headers)
        assert over.status_code == 429 and over.json()["error"]["code"] == "daily_quota"
        assert "this bot's daily quota of 3 jobs" in over.json()["error"]["message"]
        wait = int(over.headers["Retry-After"])
        until_midnight = datetime.combine(midnight, datetime.min.time(), UTC).timestamp() - time.time()
        assert abs(wait - math.ceil(until_midnight)) <= 2
        assert await bot.services.jobs.used_today(bob.id) == 3  # 1 from Discord, 2 from the API; 2 given back
    fake.assert_no_violations()


async def test_the_log_channel_shows_jobs_refusals_and_bans_and_pings_nobody(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    admin, bob = fake.user, fake.add_user("bob")
    log = fake.add_channel("bot-log")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        await likeness(fake, admin, "log", {"channel": log}, "settings")
        await likeness(fake, admin, "add", {"entry": "gore"}, "blocklist")

        def logged(count: int) -> list[Any] | None:
            found = [m for m in fake.messages if m.channel_id == log]
            return found if len(found) >= count else None

        prompt = f"a fox @everyone <@&{fake.guild_id}> {admin.mention}"
        job = first_job(await result_message(await generate(fake, bob, prompt, candidates=2)))
        [line] = await fake.wait_for(lambda: logged(1))
        assert line.content == (
            f"Job {job} by <@{bob.id}> · text · model {bot.services.runner.models.default} · “{prompt}” · "
            "2 candidates · done"
        )
        [thumb] = line.files
        assert thumb.filename == f"job-{job}.png" and max(thumb.width or 0, thumb.height or 0) <= 128

        await private_error(fake, await generate(fake, bob, "a calm lake", negative="gore"))
        await likeness(fake, admin, "ban", {"member": bob, "reason": "see <@&1> @here"})
        lines = await fake.wait_for(lambda: logged(3))
        assert lines[1].content == f"The blocklist refused a negative prompt by <@{bob.id}>."
        assert "gore" not in lines[1].content
        assert lines[2].content == f"<@{admin.id}> banned <@{bob.id}> in this server: see <@&1> @here."
        log_writes = [w for w in fake.writes if w.message_id in {m.id for m in lines}]
        assert log_writes and all(not w.mentions for w in log_writes)
        assert all(
            w.allowed_mentions is not None and w.allowed_mentions.get("parse") == [] for w in log_writes
        )
        await likeness(fake, admin, "unban", {"member": bob})
        lines = await fake.wait_for(lambda: logged(4))
        assert lines[3].content == f"<@{admin.id}> lifted the ban on <@{bob.id}>."
    fake.assert_no_violations()
