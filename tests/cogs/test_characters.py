"""``/character`` and ``/forget-me`` through the real bot, with the tiny synthetic face pack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from bot.tiny import TinyBundle
from tests.bot.engine.helpers import face_photo, gradient_image, png_bytes
from tests.cogs.harness import EngineControl, bot_settings, generate, media_files, private_error, running_bot
from tests.fakediscord import FakeDiscord, FakeMessage, FakeUser


async def character(
    fake: FakeDiscord, user: FakeUser | None, sub: str, options: dict[str, Any], predicate: Any = None
) -> FakeMessage:
    inter = await fake.slash(user, "character", options, subcommand=sub)
    return await inter.wait_final(predicate or (lambda m: not m.loading and bool(m.content)), timeout=30)


def attach(fake: FakeDiscord, data: bytes, name: str = "face.png") -> dict[str, Any]:
    return fake.add_attachment(data, name, "image/png")


async def test_build_a_set_with_quality_checks(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data")) as bot:
        created = await character(
            fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))}
        )
        assert "Created **Mara**" in created.content and "#1 (primary)" in created.content
        added = await character(
            fake,
            None,
            "add",
            {
                "name": "mara",  # names match case-insensitively
                "image": attach(fake, face_photo(1, seed=5), "second.png"),
                "image2": attach(fake, png_bytes(gradient_image(256, 256)), "landscape.png"),
                "image3": attach(fake, face_photo(1, faces=2, face=80), "group.png"),
            },
        )
        assert "second.png: added as #2 (reference)" in added.content
        assert "landscape.png: no face found" in added.content
        assert "group.png: 2 faces found: crop to one person" in added.content

        small = await character(
            fake, None, "add", {"name": "Mara", "image": attach(fake, face_photo(1, size=512, face=70))}
        )
        assert "the face is too small" in small.content
        stranger = await character(fake, None, "add", {"name": "Mara", "image": attach(fake, face_photo(7))})
        assert "looks like a different person" in stranger.content
        refs = await bot.services.characters.repo.references(
            fake.user.id, (await bot.services.characters.repo.resolve(fake.user.id, "Mara")).id
        )
        assert [r.number for r in refs] == [1, 2]  # refused uploads left nothing
        forced = await character(
            fake, None, "add", {"name": "Mara", "image": attach(fake, face_photo(7)), "force": True}
        )
        assert "added as #3" in forced.content

        shown = await character(fake, None, "show", {"name": "Mara"}, lambda m: bool(m.files))
        assert shown.files[0].filename == "contact-sheet.png"
        assert Image.open(__import__("io").BytesIO(shown.files[0].data)).format == "PNG"
        assert "#1 (primary): similarity to the rest" in shown.content
        assert "Suggest pruning: #3" in shown.content

        listed = await character(fake, None, "list", {})
        assert "**Mara**: 3 image(s)" in listed.content


async def test_promote_prune_and_isolation(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    fake = fake_discord
    bob = fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data")) as bot:
        repo = bot.services.characters.repo
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        await character(
            fake,
            None,
            "add",
            {
                "name": "Mara",
                "image": attach(fake, face_photo(1, seed=2, face=96)),
                "image2": attach(fake, face_photo(1, seed=3)),
            },
        )
        mara = await repo.resolve(fake.user.id, "Mara")
        before = mara.embedding

        for sub, options in (
            ("show", {}),
            ("promote", {"number": 2}),
            ("prune", {"number": 1}),
            ("rename", {"new_name": "Mine"}),
            ("delete", {}),
        ):
            refused = await character(fake, bob, sub, {"name": "Mara", **options})
            assert "you have no character called “Mara”" in refused.content, sub
        assert await fake.autocomplete(bob, "character", {"name": "Ma"}, "name", subcommand="show") == []
        mine = await fake.autocomplete(None, "character", {"name": "Ma"}, "name", subcommand="show")
        assert [c["value"] for c in mine] == ["Mara"]

        promoted = await character(fake, None, "promote", {"name": "Mara", "number": 2})
        assert "image #2 is now the primary" in promoted.content
        refs = await repo.references(fake.user.id, mara.id)
        assert refs[0].number == 1 and refs[0].is_primary
        after = (await repo.resolve(fake.user.id, "Mara")).embedding
        assert after != before  # the set embedding was recomputed with the new primary weighted

        files_before = len(media_files(tmp_path / "data"))
        pruned = await character(fake, None, "prune", {"name": "Mara", "number": 1})
        assert "The next image became the primary" in pruned.content
        assert [r.number for r in await repo.references(fake.user.id, mara.id)] == [1, 2]
        assert len(media_files(tmp_path / "data")) == files_before - 1


async def test_delete_and_forget_me_need_confirmation(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    fake = fake_discord
    bob = fake.add_user("bob")
    data = tmp_path / "data"
    async with running_bot(fake, bot_settings(tiny_bundle, data)) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        await character(fake, None, "create", {"name": "Theo", "image": attach(fake, face_photo(2))})
        await character(fake, bob, "create", {"name": "Bobby", "image": attach(fake, face_photo(3))})
        made = await fake.slash(None, "generate", {"prompt": "a lighthouse", "steps": 2})
        await made.wait_final(lambda m: bool(m.files), timeout=60)
        renamed = await character(fake, None, "rename", {"name": "Theo", "new_name": "Theodore"})
        assert "renamed Theo to Theodore" in renamed.content

        ask = await fake.slash(None, "character", {"name": "Mara"}, subcommand="delete")
        prompt = await ask.wait_final(lambda m: bool(m.custom_ids))
        keep = next(c for c in prompt.custom_ids if c != prompt.custom_ids[0])
        await fake.click(None, prompt, keep)
        await ask.wait_final(lambda m: m.content == "Nothing was deleted.")
        assert await bot.services.characters.repo.by_name(fake.user.id, "Mara") is not None

        ask = await fake.slash(None, "character", {"name": "Mara"}, subcommand="delete")
        prompt = await ask.wait_final(lambda m: bool(m.custom_ids))
        await fake.click(None, prompt, prompt.custom_ids[0])
        done = await ask.wait_final(lambda m: m.content.startswith("Deleted Mara"))
        assert "1 image(s)" in done.content
        assert await bot.services.characters.repo.by_name(fake.user.id, "Mara") is None

        ask = await fake.slash(None, "forget-me", {})
        prompt = await ask.wait_final(lambda m: bool(m.custom_ids))
        await fake.click(None, prompt, prompt.custom_ids[0])
        report = await ask.wait_final(lambda m: m.content.startswith("Deleted 1 character"))
        assert "1 reference image(s)" in report.content and "1 job(s), 1 output(s)" in report.content
        assert await bot.services.jobs.user_jobs(fake.user.id) == []
        assert await bot.services.characters.repo.list(fake.user.id) == []
        assert [c.name for c in await bot.services.characters.repo.list(bob.id)] == ["Bobby"]
        assert len(media_files(data)) == 1  # only Bob's reference is left


async def test_create_with_a_refused_image_leaves_nothing(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    """The same outcome as ``POST /v1/characters``: the refusal, privately, and no empty character."""
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir, queue_per_user=1)
    async with running_bot(fake, settings) as bot:
        cases = [
            ("Empty", attach(fake, png_bytes(gradient_image(256, 256)), "landscape.png"), "no face found"),
            ("Bad", fake.add_attachment(b"just notes", "notes.txt", "text/plain"), "not an image"),
        ]
        for name, image, reason in cases:
            inter = await fake.slash(None, "character", {"name": name, "image": image}, subcommand="create")
            text = await private_error(fake, inter)
            assert reason in text, (name, text)
            if name == "Empty":
                assert text.startswith("“Empty” was not created: no face found")
        engine_control.hold()  # the one slot of this user's work is taken by a running job
        await generate(fake, None, "keeps my one slot")
        await engine_control.wait_held()
        full = await fake.slash(
            None, "character", {"name": "Later", "image": attach(fake, face_photo(1))}, subcommand="create"
        )
        assert "the limit is 1" in await private_error(fake, full)
        engine_control.release()
        assert await bot.services.characters.repo.list(fake.user.id) == []


async def test_rename_outcomes(fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        for name in ("Mara", "Ivo"):
            await character(fake, None, "create", {"name": name})
        renamed = await character(fake, None, "rename", {"name": "mara", "new_name": "Mara Lee"})
        assert renamed.content == "renamed Mara to Mara Lee"
        taken = await fake.slash(
            None, "character", {"name": "Ivo", "new_name": "mara lee"}, subcommand="rename"
        )
        assert await private_error(fake, taken) == "you already have a character called “Mara Lee”"
        names = sorted(c.name for c in await bot.services.characters.repo.list(fake.user.id))
        assert names == ["Ivo", "Mara Lee"]
