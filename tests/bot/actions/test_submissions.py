"""``Submissions``: check, then submit, with the real services and no Discord (the HTTP API and the
command line call exactly this)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.actions.submissions import Destination
from bot.app.services import Services
from bot.app.settings import load_settings
from bot.engine.uploads import UploadInfo
from bot.errors import BadImage, InvalidRequest, NotAllowed
from bot.params import FaceLock, JobParams, Mode
from bot.running.queue import Job, Ticket
from bot.tiny import TinyBundle
from storage import CharacterNotFound, JobOrigin, JobStatus, OutputData, QueueFull
from tests.bot.engine.helpers import gradient_image, png_bytes

OWNER, OTHER = 1, 2
PHOTO = png_bytes(gradient_image(96, 64))
PHOTO_INFO = UploadInfo("photo.png", "image/png", len(PHOTO))


class Recorder:
    """A queue listener that keeps what it was told."""

    def __init__(self) -> None:
        self.queued: list[Ticket] = []

    async def job_queued(self, ticket: Ticket) -> None:
        self.queued.append(ticket)

    async def job_started(self, job: Job) -> None: ...
    async def job_progress(self, job: Job, step: int, total: int) -> None: ...
    async def job_finished(self, job: Job, result: Any) -> None: ...


@pytest_asyncio.fixture
async def services(tiny_bundle: TinyBundle, tmp_path: Path) -> AsyncIterator[Services]:
    settings = load_settings(
        tiny_bundle.env_file, data_dir=tmp_path / "data", default_steps=6, queue_per_user=2
    )
    opened = await Services.open(settings)  # the queue is not started: jobs stay queued
    try:
        yield opened
    finally:
        await opened.close()


async def finished(services: Services, params: JobParams, **fields: Any) -> Job:
    """A done job with one output, as the worker would leave it (made through the real submit)."""
    draft = await services.submissions.check(OWNER, params, **fields)
    ticket = await services.submissions.submit(
        draft, Destination(), image=PHOTO if "image" in fields else None
    )
    claimed = await services.jobs.claim_next()
    assert claimed is not None and claimed.id == ticket.job.id
    done = await services.jobs.mark_done(claimed.id, [OutputData(PHOTO, 7, 96, 64)], 1.0)
    assert done is not None
    return done


async def test_a_checked_job_is_queued_resolved_and_announced(services: Services) -> None:
    recorder = Recorder()
    services.queue.listeners.append(recorder)
    params = JobParams("a lighthouse at dusk", mode=Mode.IMG2IMG)
    draft = await services.submissions.check(OWNER, params, image=PHOTO_INFO)
    assert draft.params.steps == 6 and draft.params.strength == 0.35 and draft.params.seed is not None
    assert await services.jobs.user_jobs(OWNER) == []  # nothing is stored by the check

    ticket = await services.submissions.submit(draft, Destination(channel_id=5), image=PHOTO)
    assert (ticket.position, ticket.length) == (1, 1) and ticket.wait_seconds > 0
    stored = await services.jobs.get(ticket.job.id)
    assert stored is not None and stored.params == draft.params and stored.status is JobStatus.QUEUED
    assert stored.channel_id == 5 and stored.input_media is not None
    await services.queue.stop()  # lets the listener tasks finish
    assert [t.job.id for t in recorder.queued] == [ticket.job.id]


@pytest.mark.parametrize(
    ("params", "fields", "error"),
    [
        (JobParams("x", mode=Mode.IMG2IMG, strength=2.0), {"image": PHOTO_INFO}, InvalidRequest),
        (JobParams("x", mode=Mode.IMG2IMG), {}, InvalidRequest),
        (JobParams("(masterpiece:1.2, x"), {}, InvalidRequest),  # an unbalanced bracket, before the queue
        (JobParams("x", mode=Mode.IMG2IMG), {"image": UploadInfo("a.txt", "text/plain", 9)}, BadImage),
        (JobParams("x", mode=Mode.IMG2IMG), {"image": UploadInfo("a.png", "image/png", 2**30)}, BadImage),
        (JobParams("x", face=FaceLock()), {"character": "Nobody"}, CharacterNotFound),
    ],
)
async def test_refusals_come_before_anything_is_stored(
    services: Services, params: JobParams, fields: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await services.submissions.check(OWNER, params, **fields)
    assert await services.jobs.user_jobs(OWNER) == []


async def test_a_full_queue_is_refused_at_the_check(services: Services) -> None:
    for n in range(2):
        draft = await services.submissions.check(OWNER, JobParams(f"job {n}"))
        await services.submissions.submit(draft, Destination())
    with pytest.raises(QueueFull):
        await services.submissions.check(OWNER, JobParams("one too many"))
    assert len(await services.jobs.user_jobs(OWNER)) == 2


async def test_reroll_keeps_the_parameters_with_a_new_seed_and_the_owners_inputs(services: Services) -> None:
    done = await finished(services, JobParams("rainy street", mode=Mode.IMG2IMG, seed=5), image=PHOTO_INFO)
    with pytest.raises(NotAllowed, match="someone else's image, so only they can reroll it: use Vary"):
        await services.submissions.reroll(done.id, OTHER)
    draft = await services.submissions.reroll(done.id, OWNER)
    assert (draft.origin, draft.parent_job_id, draft.image) == (
        JobOrigin.REROLL,
        done.id,
        (done.input_media, "png"),
    )
    assert draft.params.seed != 5 and draft.params == done.params.with_seed(draft.params.seed)

    text = await finished(services, JobParams("a red barn", seed=9))
    assert (await services.submissions.reroll(text.id, OTHER)).user_id == OTHER  # prompt alone: anyone


async def test_vary_starts_from_the_output_and_is_open_to_anyone(services: Services) -> None:
    done = await finished(services, JobParams("rainy street", mode=Mode.IMG2IMG), image=PHOTO_INFO)
    [output] = await services.jobs.outputs(done.id)
    draft = await services.submissions.vary(done.id, 0, OTHER)
    assert draft.image == (output.media, output.ext) and draft.mask is None
    assert (draft.params.mode, draft.params.strength, draft.params.candidates) == (Mode.IMG2IMG, 0.3, 1)
    assert draft.params.face is None and draft.character_id is None
    with pytest.raises(Exception, match="that output is gone"):
        await services.submissions.vary(done.id, 3, OTHER)
    with pytest.raises(Exception, match="job 999 no longer exists"):
        await services.submissions.vary(999, 0, OTHER)


async def test_fix_face_is_the_owners_and_needs_a_character(services: Services) -> None:
    done = await finished(services, JobParams("a portrait"))
    for user in (OWNER, OTHER):  # no character on this job: nobody can fix its face
        with pytest.raises(NotAllowed, match="only the owner of this job's character can fix its faces"):
            await services.submissions.fix_face(done.id, 0, user)
