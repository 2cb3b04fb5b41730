"""Every button of the bot pressed by another user on a private job (an uploaded picture, a character, a
structure map drawn from the upload, a described photo): refused privately, at once, with nothing queued,
changed or shown of the owner's; or, where the rule lets anyone use it, using only what the channel
already sees. The buttons come from the registered ``DynamicItem``s, so a new one without a case here
fails ``test_every_registered_button_has_a_case``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from bot.app.client import LikenessBot
from bot.reframe import REFRAMES
from bot.tiny import TinyBundle
from cogs.utils.buttons import JobButton
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    png_attachment,
    result_message,
    running_bot,
    wait_delivered,
    wait_job_message,
)
from tests.cogs.test_characters import attach, character, face_photo
from tests.fakediscord import FakeDiscord, FakeMessage

CHARACTER = "Quillane"

# action → (the job it is pressed on, the refusal Bob reads); None: anyone may press it (checked below).
REFUSED: dict[str, tuple[str, str]] = {
    "reroll": ("face", "this job used someone else's character, so only they can reroll it"),
    "edit": ("face", "this job used someone else's character, so only they can edit it"),
    "fixface": ("face", "only the owner of this job's character can fix its faces"),
    "addref": ("face", "only the owner of this character can add images to it"),
    "delete": ("face", "you have no job {job}: only a job's owner can delete it"),
    "cancel": ("queued", "you have no job {job}: only a job's owner can cancel it"),
    "structure": ("structure", "the structure map of job {job} was drawn from a picture its owner uploaded"),
    "use": ("described", "this describes someone else's image, so only they can use it as the source"),
    "upmore": ("upscaled", "this upscale is of a picture its owner uploaded, so only they can redo it"),
    "addetail": ("upscaled", "this upscale is of a picture its owner uploaded, so only they can redo it"),
}
# Zoom/pan opens the zooms and pans: outpaints of the posted output, as Vary (tests/cogs/test_reframe_bot.py).
OPEN_TO_ALL = {"vary", "info", "usenew", "upscale", "reframe", *(r.action for r in REFRAMES)}


def custom_id(action: str, job: int) -> str:
    button = next(b for b in JobButton.registered if b.action == action)
    return f"lk:{action}:{job}" + (":0" if button.per_output else "")


async def snapshot(bot: LikenessBot, data_dir: Path) -> dict[str, Any]:
    db = bot.services.db
    state: dict[str, Any] = {}
    tables = [r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in sorted(t for t in tables if not t.startswith("sqlite_")):
        state[table] = sorted(map(tuple, await db.fetchall(f"SELECT * FROM {table}")), key=repr)
    files = sorted(p for p in (data_dir / "media").rglob("*") if p.is_file())
    state["files"] = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    return state


async def test_every_registered_button_has_a_case(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    async with running_bot(fake_discord, bot_settings(tiny_bundle, data_dir)) as bot:
        store = bot._connection._view_store  # where discord.py routes a click by its custom_id
        registered = set(store._dynamic_items.values())
        persistent = bot.persistent_views
    assert registered == set(JobButton.registered)  # no other DynamicItem (button or select) exists
    assert persistent == []  # nor a persistent view outside them
    actions = {b.action for b in JobButton.registered}
    assert REFUSED.keys() & OPEN_TO_ALL == set()
    assert actions == REFUSED.keys() | OPEN_TO_ALL


async def test_another_user_is_refused_privately_and_nothing_changes(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=10)) as bot:
        await character(fake, alice, "create", {"name": CHARACTER, "image": attach(fake, face_photo(1))})
        face = await generate(
            fake, alice, "a portrait on a bridge", character=CHARACTER, min_identity=0.3, max_tries=1
        )
        structure = await generate(
            fake, alice, "a castle", image=png_attachment(fake, 96, 64), structure="canny", seed=5
        )
        described = await fake.slash(alice, "describe", {"image": png_attachment(fake, 96, 64, seed=3)})
        messages: dict[str, FakeMessage] = {}
        ids: dict[str, int] = {}
        # Announced while the two before it run (its message reads "job N" only until it is done).
        ids["described"] = await wait_job_message(described)
        for name, call in (("face", face), ("structure", structure)):
            ids[name] = await wait_job_message(call)
            messages[name] = await result_message(call)
        await wait_delivered(bot, ids["described"])
        messages["described"] = await described.wait_final(lambda m: bool(m.embeds))
        upscaled = await fake.slash(alice, "upscale", {"image": png_attachment(fake, 64, 64, seed=4)})
        ids["upscaled"] = await wait_job_message(upscaled)
        messages["upscaled"] = await result_message(upscaled)
        engine_control.hold()
        await generate(fake, alice, "keeps the worker busy")
        await engine_control.wait_held()
        queued = await generate(fake, alice, "waits its turn")
        ids["queued"] = await wait_job_message(queued)
        messages["queued"] = await queued.wait_final(lambda m: f"lk:cancel:{ids['queued']}" in m.custom_ids)
        before = await snapshot(bot, data_dir)
        public = {name: m.edit_count for name, m in messages.items()}

        for action, (target, refusal) in REFUSED.items():
            job = ids[target]
            click = await fake.click(bob, messages[target], custom_id(action, job))
            assert (await click.wait_response()).type == 4, action  # answered at once, no deferral
            reply = await ephemeral_reply(click)
            assert reply.content.startswith(refusal.format(job=job)), (action, reply.content)
            assert CHARACTER not in reply.content and not reply.files, action
        assert await snapshot(bot, data_dir) == before  # nothing queued, changed or deleted
        assert {name: m.edit_count for name, m in messages.items()} == public  # no message of hers edited

        info = await ephemeral_reply(await fake.click(bob, messages["face"], custom_id("info", ids["face"])))
        own = await ephemeral_reply(await fake.click(alice, messages["face"], custom_id("info", ids["face"])))
        assert CHARACTER in own.content  # the owner reads it: the name is hidden from Bob alone
        assert f"job {ids['face']}" in info.content.lower() and CHARACTER not in info.content
        assert await snapshot(bot, data_dir) == before
        engine_control.release()
        await wait_delivered(bot, ids["queued"])

        # Anyone may start from what the channel shows: the posted output, the posted prompt.
        shown_outputs = {
            o.media for j in ("face", "structure") for o in await bot.services.jobs.outputs(ids[j])
        }
        varied = await result_message(await fake.click(bob, messages["face"], custom_id("vary", ids["face"])))
        fresh = await result_message(
            await fake.click(bob, messages["described"], custom_id("usenew", ids["described"]))
        )
        larger = await result_message(
            await fake.click(bob, messages["face"], custom_id("upscale", ids["face"]))
        )
        assert varied.files and fresh.files and larger.files
        bobs = [j for j in await jobs(bot) if j.user_id == bob.id]
        assert len(bobs) == 3
        alices_inputs = {j.input_media for j in await jobs(bot) if j.user_id == alice.id} - {None}
        for job in bobs:
            assert (job.character_id, job.params.face) == (None, None)
            assert job.input_media is None or job.input_media in shown_outputs
            assert job.input_media not in alices_inputs
