"""Nothing the bot sends can ping @everyone, @here or a role, and a character's name is never public.

One bot start runs most flows (commands, buttons, a run-time failure, the channel fallback, /forget-me);
the fake Discord records every message create and edit with the ``allowed_mentions`` it carried.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from bot.tiny import TinyBundle
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    result_message,
    running_bot,
    wait_delivered,
    wait_job_message,
)
from tests.cogs.test_characters import attach, character, face_photo
from tests.fakediscord import FakeDiscord, rules

ROLE_ID = "123456789012345678"
NAME = f"<@&{ROLE_ID}> @everyone"  # a character name that is a role mention and @everyone (32 characters)


def public_texts(fake: FakeDiscord) -> Iterator[str]:
    """Every version of every non-ephemeral message: content, embeds and components as text."""
    for message in fake.messages:
        versions = [*message.history, message.snapshot()]
        for version in versions:
            if not version.flags & 64:  # EPHEMERAL
                yield version.content + json.dumps(version.embeds) + json.dumps(version.components)


async def test_nothing_pings_everyone_or_roles_and_character_names_stay_private(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=10)) as bot:
        created = await character(fake, alice, "create", {"name": NAME, "image": attach(fake, face_photo(1))})
        assert created.ephemeral and "Created" in created.content

        # A finished job, and its buttons (the prompt is the user's own public text).
        first = await generate(fake, alice, "a lighthouse, @everyone look", seed=1)
        first_id = await wait_job_message(first)
        result = await result_message(first)
        await ephemeral_reply(await fake.click(alice, result, f"lk:info:{first_id}"))
        await ephemeral_reply(await fake.click(bob, result, f"lk:info:{first_id}"))
        await result_message(await fake.click(alice, result, f"lk:reroll:{first_id}"))

        # While the worker is busy: a face-locked job whose character is emptied before it runs, a job
        # cancelled with /cancel, and a job whose token dies (its result goes to the channel).
        engine_control.hold()
        busy = await generate(fake, bob, "keeps the worker busy")
        await engine_control.wait_held()
        locked = await generate(fake, alice, "a portrait", character=NAME)
        locked_id = await wait_job_message(locked)
        doomed_id = await wait_job_message(await generate(fake, alice, "to be cancelled"))
        late = await generate(fake, alice, "a late delivery")
        late_id = await wait_job_message(late)
        await ephemeral_reply(await fake.slash(alice, "queue", {}))
        cancelled = await ephemeral_reply(await fake.slash(alice, "cancel", {"job": doomed_id}))
        assert cancelled.content == f"job {doomed_id} was cancelled"
        pruned = await character(fake, alice, "prune", {"name": NAME, "number": 1})
        assert pruned.ephemeral and "removed image #1" in pruned.content
        await character(fake, alice, "list", {})
        late.expire()  # as if its 15 minutes had passed
        engine_control.release()
        await result_message(busy)
        failed = await locked.wait_final(lambda m: "failed" in m.content, timeout=30)
        posted = await fake.wait_for_message(lambda m: m.kind == "channel" and bool(m.files), timeout=30)
        await wait_delivered(bot, locked_id)
        await wait_delivered(bot, late_id)

        # Delete (the clicked message is edited, callback type 7).
        deleted = await fake.click(alice, result, f"lk:delete:{first_id}")
        assert (await deleted.wait_response()).type == 7

        # A private answer whose followup Discord refuses is dropped, never posted in the channel.
        fault = fake.fail_requests("POST", r"^/api/v10/webhooks/\d+/[^/]+$")
        missing = await fake.slash(alice, "character", {"name": f"nobody {ROLE_ID}"}, subcommand="show")
        await missing.wait_response()
        await fake.wait_for(lambda: fault.hits)

        ask = await fake.slash(alice, "forget-me", {})
        confirm = await ask.wait_final(lambda m: bool(m.custom_ids))
        await fake.click(alice, confirm, confirm.custom_ids[0])
        await ask.wait_final(lambda m: m.content.startswith("Deleted "), timeout=30)

    fake.take_violations(rules.RULE_TOKEN_EXPIRED)  # the late job's dead token, refused once
    assert failed.content == (
        f"<@{alice.id}> job {locked_id} failed: the character has no reference images yet, so there is no "
        "face to lock onto: add a clear photo of the face with /character add"
    )
    assert posted.content.startswith(f"<@{alice.id}> job {late_id} is done")
    assert not missing.original or missing.original.deleted  # nothing left, nothing public
    assert missing.followups == []

    writes = fake.writes
    assert {"callback 4", "callback 7", "followup", "webhook edit", "channel post"} <= {w.via for w in writes}
    for write in writes:
        allowed = write.allowed_mentions
        assert allowed is not None, write
        assert not {"everyone", "roles"} & set(allowed.get("parse", [])), write
        assert not write.mentions.everyone and write.mentions.roles == (), write
    # The only ping: the job's owner, on the result posted to the channel after the token expired.
    pinging = [w for w in writes if w.mentions]
    assert [(w.via, w.message_id, w.mentions.users) for w in pinging] == [
        ("channel post", posted.id, (alice.id,))
    ]
    assert [w.allowed_mentions for w in writes if w.allowed_mentions and w.allowed_mentions.get("users")] == [
        {"parse": [], "users": [alice.id]}
    ]
    assert [w.message_id for w in writes if w.via == "channel post"] == [posted.id]
    # The character's name (or the role id typed as a name) never reached a public message.
    for text in public_texts(fake):
        assert NAME not in text and ROLE_ID not in text, text
