"""Check, then submit: one path for every job, whichever entry point parsed it.

The slash command, the buttons (Reroll, Vary, Fix face), the command line and the HTTP API turn
their input into ``JobParams`` (``bot.options.job_params``), then come here. ``JobChecks.check``
is everything cheap, before any download: the params' rules and the server's defaults, the
attachments' metadata, the character (the user's own, not empty) and the engine's own
``check_inputs``. ``Submissions`` adds the queue's room to that, then ``submit`` does the expensive
part (decoding and cleaning uploads, reading stored files, Fix face's face analysis) and queues it.

A ``Draft`` is a checked job between the two: an entry point acknowledges its user in between
(Discord's 3-second rule), and nothing is stored until ``submit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot.characters.identity import IdentitySource
from bot.engine.checks import Capabilities, check_inputs, check_model
from bot.engine.config import ModelsConfig
from bot.engine.embeddings import EmbeddingLibrary
from bot.engine.images import load_image
from bot.engine.loras import LoraLibrary
from bot.engine.masks import face_mask
from bot.engine.uploads import UploadInfo, check_metadata, check_uploads
from bot.errors import Blocked, Gone, InvalidRequest, NoFaceFound, NotAllowed
from bot.guilds.policy import BotLimits, GuildPolicy
from bot.jobs import Identity
from bot.output_limit import check_upscale
from bot.params import Defaults, JobParams, Mode, resolve
from bot.reframe import check_reframe, reframed_params
from storage import CharacterRepository, DailyCap, JobOrigin, MediaStore, NewJob, OutputRow

if TYPE_CHECKING:  # the command line checks jobs without loading torch
    from bot.actions.guilds import GuildActions
    from bot.running.decodes import DecodePool
    from bot.running.queue import Job, JobQueue, Ticket
    from bot.running.worker import GpuWorker

VARY_STRENGTH = 0.3  # "nearby variation": keep the composition, let details move
FIX_FACE_STRENGTH = 0.6  # enough to redraw a face that slipped; the mask keeps everything else

StoredFile = tuple[str, str]  # (sha256, ext) of a media file a derived job reuses


@dataclass(frozen=True, slots=True)
class Checked:
    """A job's params with every default filled in, and the character it keeps the face of."""

    params: JobParams
    character_id: int | None = None
    identity: Identity | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A checked job, not yet queued. New jobs get their uploads at ``submit``; derived ones
    (Reroll, Vary, Fix face) reuse stored files, and Fix face's mask is drawn over the output's face."""

    user_id: int
    params: JobParams
    character_id: int | None = None
    origin: JobOrigin = JobOrigin.COMMAND
    parent_job_id: int | None = None
    image: StoredFile | None = None
    mask: StoredFile | None = None
    mask_over_face: bool = False
    daily_caps: tuple[DailyCap, ...] = ()  # the daily quotas it counts against (checked again at submit)
    policy: GuildPolicy | None = None  # the server's, for the output limit of an upload's upscale


@dataclass(frozen=True, slots=True)
class EditedText:
    """What Edit prompt's form gives back: the new prompt and negative, and the seed (None: a new one)."""

    prompt: str
    negative: str
    seed: int | None


@dataclass(frozen=True, slots=True)
class Destination:
    """Where the result goes: the Discord interaction that asked for it (its token lives 15 minutes),
    or the API key that queued it and its webhook. Empty for a job nobody waits on."""

    guild_id: int | None = None
    channel_id: int | None = None
    application_id: int | None = None
    interaction_token: str | None = field(default=None, repr=False)
    token_expires_at: float | None = None
    message_id: int | None = None
    upload_limit: int | None = None
    api_key_id: int | None = None
    webhook_url: str | None = field(default=None, repr=False)


class JobChecks:
    """Everything cheap about a new job, before its files are fetched; the command line uses it alone."""

    def __init__(
        self,
        defaults: Defaults,
        capabilities: Callable[[str | None], Capabilities],
        characters: CharacterRepository | None = None,
        identity: IdentitySource | None = None,
        loras: LoraLibrary | None = None,
        embeddings: EmbeddingLibrary | None = None,
        models: ModelsConfig | None = None,
    ) -> None:
        """``capabilities`` says what a model's engine can do now (its family once it has loaded);
        ``models``: the checkpoints a job may name."""
        self.models = models
        self.defaults = defaults
        self.capabilities = capabilities
        self.characters = characters
        self.identity = identity
        self.loras = loras
        self.embeddings = embeddings

    async def check(
        self,
        user_id: int,
        params: JobParams,
        *,
        image: UploadInfo | None = None,
        mask: UploadInfo | None = None,
        character: str | None = None,
        policy: GuildPolicy | None = None,
    ) -> Checked:
        """``character`` names the user's character for face lock (``params.face`` says how); another
        user's, or an empty one, is refused like any bad value. ``policy``: the server's defaults and
        limits (``bot.guilds``), for a job asked for in a server."""
        if (character is None) != (params.face is None):
            raise ValueError("a face lock needs its character and a character needs its face lock")
        params = self._resolve(params, policy)
        for upload, what in ((image, "image"), (mask, "mask")):
            if upload is not None:
                check_metadata(upload, what)
        character_id = identity = None
        if character is not None:
            if self.characters is None or self.identity is None:
                raise InvalidRequest("face lock needs the bot's database of characters")
            character_id = (await self.characters.resolve(user_id, character)).id
            identity = await self.identity.identity_for(user_id, character_id)
        return self._engine_check(
            params, character_id, identity, image=image is not None, mask=mask is not None
        )

    async def recheck(
        self,
        user_id: int,
        params: JobParams,
        character_id: int | None,
        *,
        image: bool,
        mask: bool,
        policy: GuildPolicy | None = None,
    ) -> Checked:
        """A derived job's params (a stored job's, changed), checked as a new job's would be."""
        params = self._resolve(params, policy)
        identity = None
        if params.face is not None:
            if character_id is None or self.identity is None:
                raise Gone("this job's character was deleted, so its face lock cannot be kept")
            identity = await self.identity.identity_for(user_id, character_id)
        return self._engine_check(params, character_id, identity, image=image, mask=mask)

    def _resolve(self, params: JobParams, policy: GuildPolicy | None) -> JobParams:
        """The params with the server's defaults (else the bot's) filled in, within its limits."""
        if policy is None:
            return resolve(params, self.defaults)
        params = resolve(params, policy.defaults(self.defaults))
        policy.check(params, self.capabilities(params.model).native)
        return params

    def _engine_check(
        self,
        params: JobParams,
        character_id: int | None,
        identity: Identity | None,
        *,
        image: bool,
        mask: bool,
    ) -> Checked:
        if self.models is not None:
            check_model(self.models, params.model)
        check_inputs(
            params,
            self.capabilities(params.model),
            image=image,
            mask=mask,
            identity=identity,
            loras=self.loras,
            embeddings=self.embeddings,
        )
        return Checked(params, character_id, identity)


class Submissions:
    """Jobs into the queue, checked once, from any entry point."""

    def __init__(
        self,
        checks: JobChecks,
        queue: JobQueue,
        media: MediaStore,
        worker: GpuWorker,
        decodes: DecodePool,
        guilds: GuildActions | None = None,
    ) -> None:
        """``decodes`` decodes uploads (a bounded pool: ``Busy`` past it), before any row exists;
        ``guilds``: the servers' settings, bans and quotas every job and button obeys."""
        self.guilds = guilds
        self.checks = checks
        self.decodes = decodes
        self.queue = queue
        self.media = media
        self.worker = worker
        self.jobs = queue.repo

    # -- checking -------------------------------------------------------------------------------
    async def check(
        self,
        user_id: int,
        params: JobParams,
        *,
        image: UploadInfo | None = None,
        mask: UploadInfo | None = None,
        character: str | None = None,
        guild_id: int | None = None,
    ) -> Draft:
        """A new job, checked, with room for it in the queue (nothing fetched or stored yet);
        ``guild_id``: the server it is asked for in (None: a DM, the API, the command line)."""
        policy, caps = await self._policy(user_id, guild_id)
        try:
            checked = await self.checks.check(
                user_id, params, image=image, mask=mask, character=character, policy=policy
            )
        except Blocked as exc:
            self._blocked(guild_id, user_id, exc)
            raise
        await self.queue.check_room(user_id, caps)
        return Draft(user_id, checked.params, checked.character_id, daily_caps=caps, policy=policy)

    async def _policy(
        self, user_id: int, guild_id: int | None
    ) -> tuple[GuildPolicy | None, tuple[DailyCap, ...]]:
        """The server's policy (``Banned`` for a banned member) and the daily caps of one more job."""
        if self.guilds is None:
            return None, ()
        policy = await self.guilds.policy(user_id, guild_id)
        return (policy if guild_id is not None else None), self.guilds.daily_caps(policy, guild_id)

    @property
    def _limits(self) -> BotLimits:
        return self.guilds.limits if self.guilds is not None else BotLimits()

    def _blocked(self, guild_id: int | None, user_id: int, exc: Blocked) -> None:
        """A blocklist refusal goes to the server's log (which of the two prompts, never the text)."""
        if self.guilds is not None and guild_id is not None:
            self.guilds.notify("blocked", guild_id, user_id, exc.what)

    async def reroll(self, job_id: int, user_id: int, guild_id: int | None = None) -> Draft:
        """Same parameters, new seed. It reuses the job's inputs, so another user may reroll only a job
        made from the prompt alone: the owner's image, mask and character stay theirs (and their
        Delete or /forget-me is not undone by someone else's copy)."""
        job = await self.rerunnable(job_id, user_id, "reroll")
        return await self._again(job, user_id, job.params.with_seed(None), JobOrigin.REROLL, guild_id)

    async def edit(self, job_id: int, user_id: int, text: EditedText, guild_id: int | None = None) -> Draft:
        """The job again with new prompt text (Edit prompt): the same inputs and every other option,
        the seed kept unless the user cleared it. Whoever may reroll the job may edit it."""
        job = await self.rerunnable(job_id, user_id, "edit")
        params = replace(job.params, prompt=text.prompt, negative=text.negative, seed=text.seed)
        return await self._again(job, user_id, params, JobOrigin.EDIT, guild_id)

    async def rerunnable(self, job_id: int, user_id: int, verb: str) -> Job:
        """The job, if ``user_id`` may run it again with its inputs (Reroll, Edit prompt)."""
        job = await self._job(job_id)
        private = None if user_id == job.user_id else _private_input(job)
        if private is not None:
            raise NotAllowed(
                f"this job used someone else's {private}, so only they can {verb} it: "
                "use Vary on one of its outputs instead"
            )
        return job

    async def _again(
        self, job: Job, user_id: int, params: JobParams, origin: JobOrigin, guild_id: int | None
    ) -> Draft:
        image, mask = await self._stored(job.input_media), await self._stored(job.mask_media)
        return await self._derived(job, user_id, params, origin, image=image, mask=mask, guild_id=guild_id)

    async def reframe(
        self, job_id: int, index: int, expand: str, user_id: int, guild_id: int | None = None
    ) -> Draft:
        """Zoom out or pan one output (``bot.reframe``): refused before queueing when the result would
        be over the output limit. Anyone may start from a posted output, as with Vary."""
        job = await self._job(job_id)
        output = await self._output(job, index)
        policy, _ = await self._policy(user_id, guild_id)
        check_reframe((output.width, output.height), expand, self._limits, policy)
        params = reframed_params(job.params, expand, owner=user_id == job.user_id)
        return await self._derived(
            job, user_id, params, JobOrigin.REFRAME, image=(output.media, output.ext), guild_id=guild_id
        )

    async def vary(self, job_id: int, index: int, user_id: int, guild_id: int | None = None) -> Draft:
        """One output becomes the source at low strength. It starts from the posted output, so anyone
        may vary it; another user's variation of a face-locked job runs without the owner's character."""
        job = await self._job(job_id)
        output = await self._output(job, index)
        owner = user_id == job.user_id
        params = replace(
            job.params,
            mode=Mode.IMG2IMG,
            strength=VARY_STRENGTH,
            expand=None,
            candidates=1,
            seed=None,
            face=job.params.face if owner else None,
        )
        return await self._derived(
            job, user_id, params, JobOrigin.VARY, image=(output.media, output.ext), guild_id=guild_id
        )

    async def fix_face(self, job_id: int, index: int, user_id: int, guild_id: int | None = None) -> Draft:
        """Inpaint one output's face with the job's face lock; the rest of the picture stays."""
        job = await self._job(job_id)
        if user_id != job.user_id or job.character_id is None:
            raise NotAllowed("only the owner of this job's character can fix its faces")
        output = await self._output(job, index)
        params = replace(
            job.params, mode=Mode.INPAINT, strength=FIX_FACE_STRENGTH, expand=None, candidates=1, seed=None
        )
        draft = await self._derived(
            job, user_id, params, JobOrigin.FIX_FACE, image=(output.media, output.ext), guild_id=guild_id
        )
        return replace(draft, mask_over_face=True)

    async def use_suggestion(
        self, job_id: int, index: int, user_id: int, *, new: bool, guild_id: int | None = None
    ) -> Draft:
        """One of a /describe job's prompts as a generation: img2img of the described image at the
        default strength (its owner's image, so the owner's alone), or, ``new``, text to image by anyone."""
        job = await self._job(job_id)
        if job.params.describe is None or not 0 <= index < len(job.suggestions):
            raise Gone(f"job {job_id} has no prompt {index + 1}")
        if not new and user_id != job.user_id:
            raise NotAllowed(
                "this describes someone else's image, so only they can use it as the source: "
                f"use “Use {index + 1} as new” to make a new image from the prompt"
            )
        mode = Mode.TEXT if new else Mode.IMG2IMG
        params = JobParams(prompt=job.suggestions[index], mode=mode)
        image = None if new else await self._stored(job.input_media)
        return await self._derived(job, user_id, params, JobOrigin.SUGGESTION, image=image, guild_id=guild_id)

    async def _derived(
        self,
        job: Job,
        user_id: int,
        params: JobParams,
        origin: JobOrigin,
        *,
        image: StoredFile | None,
        mask: StoredFile | None = None,
        guild_id: int | None = None,
    ) -> Draft:
        policy, caps = await self._policy(user_id, guild_id)
        character_id = job.character_id if params.face is not None else None
        has_mask = mask is not None or origin is JobOrigin.FIX_FACE
        try:
            checked = await self.checks.recheck(
                user_id, params, character_id, image=image is not None, mask=has_mask, policy=policy
            )
        except Blocked as exc:
            self._blocked(guild_id, user_id, exc)
            raise
        await self.queue.check_room(user_id, caps)
        return Draft(
            user_id,
            checked.params,
            checked.character_id,
            origin,
            job.id,
            image,
            mask,
            daily_caps=caps,
            policy=policy,
        )

    # -- submitting -----------------------------------------------------------------------------
    async def submit(
        self, draft: Draft, destination: Destination, *, image: bytes | None = None, mask: bytes | None = None
    ) -> Ticket:
        """Queue the draft: ``image``/``mask`` are a new job's uploads, decoded and cleaned here (on the
        decode pool); a derived job's stored files are read. Nothing is stored when anything fails."""
        image_file, mask_file = await self._inputs(draft, image, mask, destination.guild_id)
        fields = NewJob(
            user_id=draft.user_id,
            params=draft.params,
            parent_job_id=draft.parent_job_id,
            origin=draft.origin,
            character_id=draft.character_id,
            guild_id=destination.guild_id,
            channel_id=destination.channel_id,
            application_id=destination.application_id,
            interaction_token=destination.interaction_token,
            token_expires_at=destination.token_expires_at,
            message_id=destination.message_id,
            upload_limit=destination.upload_limit,
            api_key_id=destination.api_key_id,
            webhook_url=destination.webhook_url,
        )
        return await self.queue.submit(fields, image_file, mask_file, draft.daily_caps)

    async def _inputs(
        self, draft: Draft, image: bytes | None, mask: bytes | None, guild_id: int | None
    ) -> tuple[tuple[bytes, str] | None, tuple[bytes, str] | None]:
        if image is not None:
            picture, drawn = await self.decodes.run(check_uploads, draft.params, image, mask)
            if picture is not None:  # its size is known now: an upscale over the limit stores nothing
                check_upscale(draft.params, picture.size, self._limits, draft.policy)
            if picture is not None and draft.params.expand is not None:  # an outpaint grows the upload
                policy, _ = await self._policy(draft.user_id, guild_id)
                check_reframe(picture.size, draft.params.expand, self._limits, policy)
            return (picture.file if picture else None), (drawn.file if drawn else None)
        image_file = await self._read(draft.image)
        mask_file = await self._read(draft.mask)
        if draft.mask_over_face:
            assert image_file is not None
            mask_file = (await self._face_mask(draft.user_id, image_file[0]), "png")
        return image_file, mask_file

    async def _face_mask(self, user_id: int, image: bytes) -> bytes:
        """A mask over the picture's largest face; the analysis counts as ``user_id``'s work in flight."""
        picture = await self.decodes.run(load_image, image, what="image")
        async with self.queue.in_flight.analysis(user_id):
            faces = await self.worker.call(self.worker.face_analyzer.analyze, picture)
        if not faces:
            raise NoFaceFound()
        return await asyncio.to_thread(face_mask, picture.size, faces[0].box)

    # -- reading stored jobs --------------------------------------------------------------------
    async def _job(self, job_id: int) -> Job:
        job = await self.jobs.get(job_id)
        if job is None:
            raise Gone(f"job {job_id} no longer exists (deleted or past the history window)")
        return job

    async def _output(self, job: Job, index: int) -> OutputRow:
        output = next((o for o in await self.jobs.outputs(job.id) if o.idx == index), None)
        if output is None:
            raise Gone("that output is gone (deleted or past the history window)")
        return output

    async def _stored(self, sha: str | None) -> StoredFile | None:
        if sha is None:
            return None
        path = await self.jobs.media_path(sha)
        if path is None:
            raise Gone("the source image of this job is gone (past the history window)")
        return sha, path.suffix.lstrip(".")

    async def _read(self, stored: StoredFile | None) -> tuple[bytes, str] | None:
        if stored is None:
            return None
        sha, ext = stored
        try:
            data = await asyncio.to_thread(self.media.read, sha, ext)
        except OSError:
            raise Gone("the source image of this job is gone (past the history window)") from None
        return data, ext


def _private_input(job: Job) -> str | None:
    """What of the owner's a reroll would reuse: a character (even one deleted since), or an uploaded
    image or mask. None for a job made from the prompt alone."""
    if job.character_id is not None or job.params.face is not None:
        return "character"
    if job.input_media is not None or job.mask_media is not None:
        return "image"
    return None
