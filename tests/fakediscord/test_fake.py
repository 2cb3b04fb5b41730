"""End-to-end tests of the fake: a tiny real discord.py bot driven through REST + gateway + CDN."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakediscord import FakeDiscord, Mentions, rules
from tests.fakediscord.fixtures import fake_discord, fake_discord_options, start_client

__all__ = ["fake_discord", "fake_discord_options"]  # re-exported fixtures used by the tests below


def png(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


class Regenerate(discord.ui.DynamicItem[discord.ui.Button], template=r"regen:(?P<seed>\d+)"):
    """A persistent button whose state lives in its custom_id, as the real bot's buttons will."""

    def __init__(self, seed: int) -> None:
        super().__init__(
            discord.ui.Button(label="Again", style=discord.ButtonStyle.primary, custom_id=f"regen:{seed}")
        )
        self.seed = seed

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> Regenerate:
        return cls(int(match["seed"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        source = interaction.message
        assert source is not None
        await interaction.response.send_message(
            f"again {self.seed} from {len(source.attachments)} attachment(s) by {interaction.user.id}"
        )


class Keep(discord.ui.DynamicItem[discord.ui.Button], template=r"keep:(?P<seed>\d+)"):
    """Edits the message it sits on (callback type 7), dropping the buttons but keeping the image."""

    def __init__(self, seed: int) -> None:
        super().__init__(discord.ui.Button(label="Keep", custom_id=f"keep:{seed}"))
        self.seed = seed

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> Keep:
        return cls(int(match["seed"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"kept {self.seed}", view=None)


class Rename(discord.ui.Modal, title="Rename"):
    name: discord.ui.TextInput[Rename] = discord.ui.TextInput(label="New name", custom_id="new_name")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"renamed to {self.name.value}")


class Describe(discord.ui.Modal, title="Describe"):
    """Labels around text inputs (Discord's current modal layout), one pre-filled and optional."""

    def __init__(self) -> None:
        super().__init__(custom_id="describe")
        self.text: discord.ui.TextInput[Describe] = discord.ui.TextInput(
            custom_id="text", style=discord.TextStyle.paragraph, default="a red fox", max_length=20
        )
        self.note: discord.ui.TextInput[Describe] = discord.ui.TextInput(
            custom_id="note", default="keep", required=False
        )
        self.add_item(discord.ui.Label(text="Text", description="What it shows", component=self.text))
        self.add_item(discord.ui.Label(text="Note", component=self.note))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"{self.text.value} / {self.note.value or '-'}")


class TinyBot(commands.Bot):
    """Just enough bot to exercise every path of the fake; records what discord.py raised."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        super().__init__(
            command_prefix="!", intents=intents or discord.Intents.default(), guild_ready_timeout=0.01
        )
        self.errors: list[Exception] = []
        self.release = asyncio.Event()
        self.edits = 7
        self.fetched = ""
        self.seen_references: list[int] = []
        self._register()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(Regenerate, Keep)
        await self.tree.sync()

    def _register(self) -> None:
        tree = self.tree

        @tree.command(name="generate", description="Draw from a reference image")
        @app_commands.describe(prompt="What to draw", reference="Reference image", steps="Sampling steps")
        async def generate(
            interaction: discord.Interaction,
            prompt: str,
            reference: discord.Attachment,
            steps: app_commands.Range[int, 1, 50] = 20,
        ) -> None:
            await interaction.response.defer(thinking=True)
            source = Image.open(io.BytesIO(await reference.read()))
            out = io.BytesIO()
            source.resize((source.width * 2, source.height * 2)).save(out, format="PNG")
            out.seek(0)
            view = discord.ui.View(timeout=None)
            view.add_item(Regenerate(steps))
            view.add_item(Keep(steps))
            await interaction.followup.send(
                f"{prompt}: {source.width}x{source.height} in, {steps} steps",
                file=discord.File(out, "result.png"),
                view=view,
            )

        async def style_complete(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            styles = ["anime", "analog film", "oil painting", "watercolor"]
            return [app_commands.Choice(name=s, value=s) for s in styles if current.lower() in s]

        @tree.command(name="style", description="Pick a style")
        @app_commands.autocomplete(name=style_complete)
        async def style(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"style {name}", ephemeral=True)

        @tree.command(name="slow", description="Acknowledges too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.defer()
            except discord.HTTPException as exc:
                self.errors.append(exc)

        @tree.command(name="later", description="Answers after the token expired")
        async def later(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await self.release.wait()
            try:
                await interaction.followup.send("done")
            except discord.HTTPException as exc:
                self.errors.append(exc)
                assert isinstance(interaction.channel, discord.TextChannel)
                await interaction.channel.send(f"{interaction.user.mention} done (token expired)")

        @tree.command(name="long", description="Sends too much text")
        async def long(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("x" * 3000)
            except discord.HTTPException as exc:
                self.errors.append(exc)
                await interaction.response.send_message("too long, shortened")

        @tree.command(name="bigembed", description="Posts an oversized embed to the channel")
        async def bigembed(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            assert isinstance(interaction.channel, discord.TextChannel)
            try:
                await interaction.channel.send(embed=discord.Embed(title="t" * 300))
            except discord.HTTPException as exc:
                self.errors.append(exc)
            await interaction.followup.send("tried")

        @tree.command(name="progress", description="Edits the response many times")
        async def progress(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            for step in range(1, self.edits + 1):
                await interaction.edit_original_response(content=f"step {step}/{self.edits}")
            self.fetched = (await interaction.original_response()).content

        @tree.command(name="upload", description="Uploads a file of the given size")
        async def upload(interaction: discord.Interaction, size: int) -> None:
            await interaction.response.defer()
            try:
                await interaction.followup.send(file=discord.File(io.BytesIO(b"\0" * size), "blob.bin"))
            except discord.HTTPException as exc:
                self.errors.append(exc)
                await interaction.followup.send(f"file too big for {interaction.filesize_limit} bytes")

        @tree.command(name="work", description="A CPU-bound job, run on or off the event loop")
        async def work(interaction: discord.Interaction, offload: bool) -> None:
            await interaction.response.defer()
            if offload:
                await asyncio.to_thread(time.sleep, 0.3)
            else:
                time.sleep(0.3)  # the bug the heartbeat check exists to catch
            await interaction.followup.send("worked")

        @tree.command(name="rename", description="Opens a modal")
        async def rename(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(Rename())

        @tree.command(name="describe", description="Opens a modal of labels")
        async def describe(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(Describe())

        @tree.context_menu(name="Use as reference")
        async def use_as_reference(interaction: discord.Interaction, message: discord.Message) -> None:
            self.seen_references.extend(a.id for a in message.attachments)
            await interaction.response.send_message(
                f"{len(message.attachments)} reference(s)", ephemeral=True
            )

        @tree.command(name="twostep", description="Response, followup, edit, delete")
        async def twostep(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("one")
            followup = await interaction.followup.send("two", wait=True)
            await followup.edit(content="two, edited")
            await interaction.delete_original_response()

        @self.command(name="ping")
        async def ping(ctx: commands.Context[TinyBot]) -> None:
            await ctx.reply(f"pong {len(ctx.message.attachments)}")

        @tree.command(name="card", description="Components v2 result card")
        async def card(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            view = discord.ui.LayoutView(timeout=None)
            view.add_item(
                discord.ui.Container(
                    discord.ui.TextDisplay("## Result"),
                    discord.ui.MediaGallery(discord.MediaGalleryItem("attachment://card.png")),
                    discord.ui.Section("seed 5", accessory=Regenerate(5)),
                )
            )
            await interaction.followup.send(view=view, file=discord.File(io.BytesIO(png(6, 4)), "card.png"))

        @tree.command(name="whoami", description="Echo the caller")
        async def whoami(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"{interaction.user.id} {interaction.user.name}")


async def test_slash_with_attachment_defers_and_uploads_png(fake_discord: FakeDiscord) -> None:
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        schema = next(c for c in fake_discord.synced_commands if c["name"] == "generate")
        assert [(o["name"], o["type"]) for o in schema["options"]] == [
            ("prompt", 3),
            ("reference", 11),
            ("steps", 4),
        ]

        reference = fake_discord.add_attachment(png(32, 24), "ref.png")
        inter = await fake_discord.slash(
            None, "generate", {"prompt": "a cat", "reference": reference, "steps": 7}
        )

        callback = await inter.wait_response()
        assert callback.type == 5  # deferred: "thinking"
        final = await inter.wait_final(lambda m: bool(m.files))

        # Discord turns the first followup after a deferral into the original response.
        assert final is inter.original and not final.loading
        assert final.content == "a cat: 32x24 in, 7 steps"
        image = Image.open(io.BytesIO(final.file("result.png").data))
        assert image.size == (64, 48)
        assert final.file().content_type == "image/png"
        assert final.custom_ids == ["regen:7", "keep:7"]

        # The CDN really serves the bytes the bot uploaded.
        async with aiohttp.ClientSession() as session, session.get(final.file().url) as response:
            assert response.status == 200
            assert await response.read() == final.file().data


async def test_dynamic_item_button_click(fake_discord: FakeDiscord) -> None:
    bot = TinyBot()
    alice, bob = fake_discord.add_user("alice"), fake_discord.add_user("bob")
    assert len({alice.id, bob.id, fake_discord.user.id}) == 3
    async with start_client(bot, fake_discord):
        inter = await fake_discord.slash(alice, "generate", {"prompt": "x", "reference": png(8, 8)})
        result = await inter.wait_final(lambda m: bool(m.files))

        click = await fake_discord.click(bob, result, "regen:20")
        answer = await click.wait_final()
        assert answer.content == f"again 20 from 1 attachment(s) by {bob.id}"
        assert click.callback is not None and click.callback.type == 4

        with pytest.raises(LookupError):
            await fake_discord.click(bob, result, "regen:99")


async def test_autocomplete_returns_bot_choices(fake_discord: FakeDiscord) -> None:
    async with start_client(TinyBot(), fake_discord):
        choices = await fake_discord.autocomplete(None, "style", {"name": "an"}, focused="name")
        assert [c["value"] for c in choices] == ["anime", "analog film"]

        inter = await fake_discord.slash(None, "style", {"name": "anime"})
        message = await inter.wait_final()
        assert message.ephemeral and message.content == "style anime"


async def test_late_acknowledgement_is_a_violation(fake_discord: FakeDiscord) -> None:
    fake_discord.limits.ack_deadline = 0.15
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        await fake_discord.slash(None, "slow")
        await fake_discord.wait_for(lambda: bot.errors)
    error = bot.errors[0]
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert {v.rule for v in fake_discord.take_violations()} == {rules.RULE_ACK_MISSING, rules.RULE_ACK_LATE}


@pytest.mark.parametrize("how", ["lifetime", "on_demand"])
async def test_expired_token_followup_gets_401(fake_discord: FakeDiscord, how: str) -> None:
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        if how == "lifetime":
            fake_discord.token_lifetime = 0.1
        inter = await fake_discord.slash(None, "later")
        await inter.wait_response()
        if how == "lifetime":
            await asyncio.sleep(0.15)
        else:
            fake_discord.expire_tokens()
        bot.release.set()
        fallback = await fake_discord.wait_for_message(lambda m: m.kind == "channel")
    error = bot.errors[0]
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (401, 50027)
    assert fallback.content.endswith("done (token expired)")
    assert [v.rule for v in fake_discord.take_violations()] == [rules.RULE_TOKEN_EXPIRED]


async def test_content_over_2000_chars_is_rejected(fake_discord: FakeDiscord) -> None:
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        inter = await fake_discord.slash(None, "long")
        message = await inter.wait_final()
    assert message.content == "too long, shortened"
    error = bot.errors[0]
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (400, 50035)
    assert "content" in str(error)
    [violation] = fake_discord.take_violations()
    assert violation.rule == rules.RULE_INVALID_FORM and "content" in violation.detail


async def test_oversized_embed_is_rejected(fake_discord: FakeDiscord) -> None:
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        inter = await fake_discord.slash(None, "bigembed")
        await inter.wait_final(lambda m: m.content == "tried")
    assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].code == 50035
    [violation] = fake_discord.take_violations(rules.RULE_INVALID_FORM)
    assert "embeds.0.title" in violation.detail


async def test_upload_over_size_limit_gets_413(fake_discord: FakeDiscord) -> None:
    fake_discord.limits.attachment_size_limit = 4096
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        ok = await fake_discord.slash(None, "upload", {"size": 4000})
        assert (await ok.wait_final()).file("blob.bin").size == 4000
        too_big = await fake_discord.slash(None, "upload", {"size": 5000})
        message = await too_big.wait_final()
    assert message.content == "file too big for 4096 bytes"
    error = bot.errors[0]
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (413, 40005)
    assert [v.rule for v in fake_discord.take_violations()] == [rules.RULE_ENTITY_TOO_LARGE]


async def test_rate_limited_edits_are_retried_by_discord_py(fake_discord: FakeDiscord) -> None:
    fake_discord.limits.edit_rate_limit = 3
    fake_discord.limits.edit_rate_window = 0.25
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        inter = await fake_discord.slash(None, "progress")
        final = await inter.wait_final(lambda m: m.content == "step 7/7")
    assert [v.content for v in final.history[1:]] == [f"step {i}/7" for i in range(1, 7)]
    assert final.edit_count == 7  # placeholder + 6 intermediate versions kept in history
    statuses = [r.status for r in fake_discord.requests if r.method == "PATCH"]
    assert statuses.count(429) >= 1 and statuses.count(200) == 7
    violations = fake_discord.take_violations()
    assert violations and {v.rule for v in violations} == {rules.RULE_RATE_LIMITED}


async def test_advertised_rate_limits_make_discord_py_wait_instead(fake_discord: FakeDiscord) -> None:
    fake_discord.limits.edit_rate_limit = 3
    fake_discord.limits.edit_rate_window = 0.25
    fake_discord.advertise_rate_limits = True
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        inter = await fake_discord.slash(None, "progress")
        await inter.wait_final(lambda m: m.content == "step 7/7")
        await fake_discord.wait_for(lambda: bot.fetched)
    assert bot.fetched == "step 7/7"
    assert all(r.status != 429 for r in fake_discord.requests)


async def test_multiple_users_and_gateway_resume(fake_discord: FakeDiscord) -> None:
    fake_discord.heartbeat_interval = 0.03
    alice = fake_discord.add_user("alice")
    async with start_client(TinyBot(), fake_discord):
        beats = await fake_discord.wait_heartbeats(4)
        assert max(b - a for a, b in itertools.pairwise(beats)) < 0.5

        await fake_discord.disconnect_gateway()
        await fake_discord.wait_for(
            lambda: fake_discord.gateway.resumes == 1 and fake_discord.gateway.connected
        )
        inter = await fake_discord.slash(alice, "whoami")
        assert (await inter.wait_final()).content == f"{alice.id} alice"
    assert fake_discord.gateway.identifies == 1


async def test_raw_http_rules(fake_discord: FakeDiscord) -> None:
    """Rules discord.py already guards client-side, checked by calling the fake directly."""
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    api = fake_discord.api_base
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{api}/users/@me") as response:
            assert response.headers["Content-Type"] == "application/json"

        bad_commands = [
            {"name": "Bad Name", "description": "d" * 101, "options": []},
            {
                "name": "order",
                "description": "ok",
                "options": [
                    {"type": 3, "name": "opt", "description": "x"},
                    {"type": 3, "name": "req", "description": "x", "required": True},
                ],
            },
        ]
        async with http.put(
            f"{api}/applications/{fake_discord.app_id}/commands", json=bad_commands
        ) as response:
            body = await response.json()
        assert response.status == 400 and body["code"] == 50035
        assert set(body["errors"]["0"]) == {"name", "description"}
        assert "required" in body["errors"]["1"]["options"]["1"]

        async with http.get(f"{api}/nope") as response:
            assert response.status == 404
        async with http.get(f"{api}/users/@me", headers={"Authorization": "Bot wrong"}) as response:
            assert response.status == 401
    assert [v.rule for v in fake_discord.take_violations()] == [
        rules.RULE_COMMAND_SCHEMA,
        rules.RULE_UNKNOWN_ROUTE,
        rules.RULE_UNAUTHORIZED,
    ]


async def test_second_callback_is_already_acknowledged(fake_discord: FakeDiscord) -> None:
    async with start_client(TinyBot(), fake_discord):
        inter = await fake_discord.slash(None, "whoami")
        await inter.wait_response()
        url = f"{fake_discord.api_base}/interactions/{inter.id}/{inter.token}/callback"
        async with aiohttp.ClientSession() as http, http.post(url, json={"type": 5}) as response:
            assert response.status == 400 and (await response.json())["code"] == 40060
    assert [v.rule for v in fake_discord.take_violations()] == [rules.RULE_ALREADY_ACKED]


@pytest.mark.parametrize("offload", [False, True])
async def test_heartbeat_gaps_reveal_a_blocked_event_loop(fake_discord: FakeDiscord, offload: bool) -> None:
    fake_discord.heartbeat_interval = 0.03
    async with start_client(TinyBot(), fake_discord):
        await fake_discord.wait_heartbeats(2)
        start = time.monotonic()
        inter = await fake_discord.slash(None, "work", {"offload": offload})
        await inter.wait_final()
        await fake_discord.wait_heartbeats(len(fake_discord.heartbeats) + 2)
    worst = max(fake_discord.heartbeat_gaps(since=start))
    if offload:
        assert worst < 0.2
    else:
        assert worst > 0.25


async def test_invalid_command_schema_fails_sync(fake_discord: FakeDiscord) -> None:
    """discord.py checks neither choice counts nor description lengths; Discord (and the fake) do."""
    bot = TinyBot()

    @bot.tree.command(name="pick", description="d" * 101)
    @app_commands.choices(item=[app_commands.Choice(name=f"c{i}", value=f"c{i}") for i in range(26)])
    async def pick(interaction: discord.Interaction, item: str) -> None:
        await interaction.response.send_message(item)

    with pytest.raises(app_commands.CommandSyncFailure) as failure:
        async with start_client(bot, fake_discord):
            pass
    assert "In command 'pick'" in str(failure.value)
    assert "Must be 25 or fewer in length." in str(failure.value)
    [violation] = fake_discord.take_violations()
    assert violation.rule == rules.RULE_COMMAND_SCHEMA
    assert "options.0.choices" in violation.detail and ".description" in violation.detail


async def test_component_update_modal_and_context_menu(fake_discord: FakeDiscord) -> None:
    bot = TinyBot()
    async with start_client(bot, fake_discord):
        inter = await fake_discord.slash(None, "generate", {"prompt": "x", "reference": png(4, 4)})
        result = await inter.wait_final(lambda m: bool(m.files))
        assert result.custom_ids == ["regen:20", "keep:20"]

        # Message context menu on the generated image: the bot sees its attachment.
        ref = await fake_discord.context_menu(None, "Use as reference", result)
        assert (await ref.wait_final()).content == "1 reference(s)"
        assert bot.seen_references == [result.file().id]

        # Type 7: the button edits its own message; the image stays, the buttons go.
        click = await fake_discord.click(None, result, "keep:20")
        assert (await click.wait_response()).type == 7
        assert result.content == "kept 20" and result.components == [] and len(result.files) == 1
        with pytest.raises(LookupError):
            await fake_discord.click(None, result, "keep:20")

        # Modal: open, fill in, submit.
        opened = await fake_discord.slash(None, "rename")
        assert (await opened.wait_response()).type == 9
        submitted = await fake_discord.submit_modal(None, opened, {"new_name": "Mona"})
        assert (await submitted.wait_final()).content == "renamed to Mona"


async def test_followup_edit_and_delete(fake_discord: FakeDiscord) -> None:
    async with start_client(TinyBot(), fake_discord):
        inter = await fake_discord.slash(None, "twostep")
        await fake_discord.wait_for(lambda: inter.original is not None and inter.original.deleted)
        [followup] = inter.followups
        assert followup.content == "two, edited" and [v.content for v in followup.history] == ["two"]
        assert inter.original is not None and inter.original.content == "one"


async def test_dm_interaction_and_prefix_message(fake_discord: FakeDiscord) -> None:
    alice = fake_discord.add_user("alice")
    intents = discord.Intents.default()
    intents.message_content = True
    async with start_client(TinyBot(intents), fake_discord):
        inter = await fake_discord.slash(alice, "whoami", dm=True)
        message = await inter.wait_final()
        assert message.content == f"{alice.id} alice" and message.guild_id is None

        await fake_discord.user_message(alice, "!ping", attachments=[png(2, 2)])
        reply = await fake_discord.wait_for_message(lambda m: m.kind == "channel")
        assert reply.content == "pong 1" and reply.type == 19


async def test_patch_discord_restores_discord_py() -> None:
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async with FakeDiscord() as fake:
        with fake.patch_discord():
            assert fake.api_base == Route.BASE
            assert str(DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
        assert before == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_components_v2_card_and_click(fake_discord: FakeDiscord) -> None:
    async with start_client(TinyBot(), fake_discord):
        inter = await fake_discord.slash(None, "card")
        card = await inter.wait_final()
        assert card.flags & (1 << 15) and card.custom_ids == ["regen:5"]
        [container] = card.components
        media = container["components"][1]["items"][0]["media"]
        assert media["url"] == card.file("card.png").url and (media["width"], media["height"]) == (6, 4)

        click = await fake_discord.click(None, card, "regen:5")
        assert (await click.wait_final()).content.startswith("again 5 from 1 attachment(s)")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"embeds": [{"title": "t"}] * 11}, "embeds"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields"),
        ({"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}, "embeds"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, "embeds.0.fields.0.value"),
        (
            {
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c"}]}
                ]
                * 6
            },
            "components",
        ),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "b", "custom_id": f"c{i}"} for i in range(6)
                        ],
                    }
                ]
            },
            "components.0.components",
        ),
        (
            {
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c" * 101}]}
                ]
            },
            "components.0.components.0.custom_id",
        ),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "b", "custom_id": "same"},
                            {"type": 2, "style": 1, "label": "b", "custom_id": "same"},
                        ],
                    }
                ]
            },
            "components.0.components.1.custom_id",
        ),
    ],
)
def test_message_rules(body: dict[str, Any], path: str) -> None:
    errors = rules.FormErrors()
    rules.validate_message_body(body, rules.Limits(), errors)
    assert path in [".".join(p) for p, _, _ in errors.items], errors.summary()


async def test_multipart_attachments_and_file_count(fake_discord: FakeDiscord) -> None:
    url = f"{fake_discord.api_base}/channels/{fake_discord.channel_id}/messages"
    headers = {"Authorization": f"Bot {fake_discord.token}"}

    def form(count: int, attachments: list[dict[str, Any]] | None) -> aiohttp.FormData:
        data = aiohttp.FormData(quote_fields=False)
        payload: dict[str, Any] = {"content": "files"}
        if attachments is not None:
            payload["attachments"] = attachments
        data.add_field("payload_json", json.dumps(payload), content_type="application/json")
        for i in range(count):
            data.add_field(
                f"files[{i}]", png(1 + i, 1), filename=f"f{i}.png", content_type="application/octet-stream"
            )
        return data

    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(
            url, data=form(2, [{"id": 0, "filename": "renamed.png", "description": "alt"}])
        ) as r:
            body = await r.json()
        assert [a["filename"] for a in body["attachments"]] == ["renamed.png", "f1.png"]
        assert body["attachments"][0]["description"] == "alt" and body["attachments"][1]["width"] == 2
        async with http.get(body["attachments"][1]["url"]) as r:
            assert r.headers["Content-Type"] == "image/png" and await r.read() == png(2, 1)

        async with http.post(url, data=form(11, None)) as r:
            assert r.status == 400 and "attachments" in (await r.json())["errors"]
    assert [v.rule for v in fake_discord.take_violations()] == [rules.RULE_TOO_MANY_FILES]


async def test_writes_record_allowed_mentions_and_faults_fail_requests(fake_discord: FakeDiscord) -> None:
    """Each message create/edit is recorded with its ``allowed_mentions``; an injected fault answers like
    Discord (here the 401 of a dead token) without counting as the bot's violation."""
    fake = fake_discord
    bot = TinyBot()  # sets no allowed_mentions: discord.py then sends none
    async with start_client(bot, fake):
        fault = fake.fail_requests("POST", r"^/api/v10/webhooks/")
        inter = await fake.slash(None, "later")
        await inter.wait_response()
        bot.release.set()
        fallback = await fake.wait_for_message(lambda m: m.kind == "channel")
    error = bot.errors[0]
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (401, 50027)
    assert len(fault.hits) == 1 and fault.times == 0 and fake.violations == []
    [write] = [w for w in fake.writes if w.message_id == fallback.id]
    assert (write.via, write.edit, write.ephemeral, write.allowed_mentions) == (
        "channel post",
        False,
        False,
        None,
    )
    assert write.mentions == Mentions(users=(fake.user.id,))


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        (None, Mentions(everyone=True, roles=(5,), users=(7, 8))),  # absent: Discord parses everything
        ({"parse": []}, Mentions()),
        ({"parse": ["everyone"], "roles": ["5"]}, Mentions(everyone=True, roles=(5,))),
        ({"parse": [], "users": [7]}, Mentions(users=(7,))),
        ({"parse": ["users", "roles"]}, Mentions(roles=(5,), users=(7, 8))),
    ],
)
def test_mentions_under_allowed_mentions(allowed: dict[str, Any] | None, expected: Mentions) -> None:
    assert rules.mentions_in("@here <@&5> <@!7> <@8>", allowed) == expected


def test_allowed_mentions_rules() -> None:
    errors = rules.FormErrors()
    rules.validate_allowed_mentions({"parse": ["users", "channels"], "users": ["1"]}, errors)
    assert [(".".join(p), code) for p, code, _ in errors.items] == [
        ("allowed_mentions.parse.1", "BASE_TYPE_CHOICES"),
        ("allowed_mentions", "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"),
    ]


async def test_a_modal_of_labels_submits_as_discord_sends_it(fake_discord: FakeDiscord) -> None:
    """MODAL (callback 9) with Labels, then MODAL_SUBMIT (interaction 5): an input left alone keeps its
    pre-filled value, ``""`` clears it, and what the client would not submit is refused."""
    async with start_client(TinyBot(), fake_discord):
        opened = await fake_discord.slash(None, "describe")
        modal = (await opened.wait_response()).data
        assert [c["type"] for c in modal["components"]] == [18, 18]
        assert modal["components"][0]["component"]["value"] == "a red fox"
        for values, error in (
            ({"text": ""}, "required"),
            ({"text": "x" * 21}, "takes 0–20 characters"),
            ({"colour": "red"}, "has no text input"),
        ):
            with pytest.raises(ValueError, match=error):
                await fake_discord.submit_modal(None, opened, values)
        kept = await fake_discord.submit_modal(None, opened, {})
        assert (await kept.wait_final()).content == "a red fox / keep"
        [label, _] = kept.data["components"]
        assert label["type"] == 18 and isinstance(label["id"], int)
        assert {k: label["component"][k] for k in ("type", "custom_id", "value")} == {
            "type": 4,
            "custom_id": "text",
            "value": "a red fox",
        }
        again = await fake_discord.slash(None, "describe")  # discord.py forgets a modal once submitted
        await again.wait_response()
        cleared = await fake_discord.submit_modal(None, again, {"text": "a grey wolf", "note": ""})
        assert (await cleared.wait_final()).content == "a grey wolf / -"
    assert fake_discord.take_violations() == []


def _modal(*components: dict[str, Any], title: str = "Edit") -> dict[str, Any]:
    return {"custom_id": "m", "title": title, "components": list(components)}


def _label(component: dict[str, Any], label: str = "Prompt") -> dict[str, Any]:
    return {"type": 18, "label": label, "component": component}


TEXT = {"type": 4, "custom_id": "t", "style": 1}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (_modal(_label(TEXT), title="t" * 46), "data.title"),
        (_modal(), "data.components"),
        (_modal(*[_label({**TEXT, "custom_id": f"t{i}"}) for i in range(6)]), "data.components"),
        (_modal({"type": 2, "style": 1, "label": "b", "custom_id": "b"}), "data.components.0.type"),
        (_modal(_label(TEXT, label="l" * 46)), "data.components.0.label"),
        (_modal({**_label(TEXT), "description": "d" * 101}), "data.components.0.description"),
        (_modal(_label({"type": 2, "style": 1, "custom_id": "b"})), "data.components.0.component"),
        (_modal(_label({**TEXT, "label": "twice"})), "data.components.0.component.label"),
        (_modal(_label({**TEXT, "style": 3})), "data.components.0.component.style"),
        (_modal(_label({**TEXT, "custom_id": ""})), "data.components.0.component.custom_id"),
        (_modal(_label({**TEXT, "max_length": 4001})), "data.components.0.component.max_length"),
        (
            _modal(_label({**TEXT, "min_length": 5, "max_length": 2})),
            "data.components.0.component.min_length",
        ),
        (_modal(_label({**TEXT, "value": "v" * 11, "max_length": 10})), "data.components.0.component.value"),
        (_modal(_label({**TEXT, "placeholder": "p" * 101})), "data.components.0.component.placeholder"),
        (_modal(_label(TEXT), _label(TEXT)), "data.components.1.component.custom_id"),
        (
            _modal({"type": 1, "components": [TEXT, {**TEXT, "custom_id": "u"}]}),
            "data.components.0.components",
        ),
        (_modal({"type": 1, "components": [TEXT]}), "data.components.0.components.0.label"),
    ],
)
def test_modal_rules(data: dict[str, Any], path: str) -> None:
    errors = rules.FormErrors()
    rules.validate_modal(data, rules.Limits(), errors)
    assert path in [".".join(p) for p, _, _ in errors.items], errors.summary()


def test_a_valid_modal_passes_the_rules() -> None:
    errors = rules.FormErrors()
    legacy = {"type": 1, "components": [{**TEXT, "custom_id": "old", "label": "Old"}]}
    text = {"type": 10, "content": "Change one thing at a time."}
    full = {**TEXT, "style": 2, "min_length": 0, "max_length": 1000, "value": "v", "placeholder": "p"}
    rules.validate_modal(_modal(_label(full), legacy, text), rules.Limits(), errors)
    assert not errors, errors.summary()
