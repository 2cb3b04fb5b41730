"""The Upscale buttons' jobs: an output made larger, and an upscale made again larger or with detail.

Each is a derived job through ``Submissions`` (the same checks, queue room, daily quota and server
policy as Vary), refused before it is queued when its result would pass ``LIKENESS_MAX_OUTPUT_MP``
or the server's ``max_megapixels`` (``bot.output_limit``).

Who may: an output that was posted is anyone's to upscale (as it is anyone's to vary); another
user's detail pass of a face-locked job runs without the owner's character. An upscale of an
uploaded picture (``/upscale``) reuses that upload, so only its owner may make it again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bot.errors import Gone, NotAllowed
from bot.output_limit import check_upscale
from bot.params import JobParams, Mode
from storage import JobOrigin

if TYPE_CHECKING:
    from bot.actions.submissions import Draft, StoredFile, Submissions
    from bot.running.queue import Job

FIRST_FACTOR = 2.0  # the Upscale N button
MAX_FACTOR = 4.0  # the second press: the source 4× instead of 2×
DETAIL_STRENGTH = 0.3  # the detail pass: new texture, the same picture (0.2–0.4 keeps a face)


def upscale_params(
    params: JobParams, factor: float, *, detail: bool, seed: int | None, face: bool
) -> JobParams:
    """A job's params as an upscale of its picture: its prompt, model and LoRAs for the detail pass;
    what only a generation reads (mask, structure, outpaint, describe) dropped."""
    return replace(
        params,
        mode=Mode.IMG2IMG,
        upscale=factor,
        strength=DETAIL_STRENGTH if detail else None,
        candidates=1,
        seed=seed,
        expand=None,
        structure=None,
        structure_weight=None,
        describe=None,
        face=params.face if face else None,
    )


class Upscales:
    def __init__(self, submissions: Submissions) -> None:
        self.submissions = submissions

    async def upscale(
        self, job_id: int, index: int, user_id: int, guild_id: int | None = None, *, detail: bool = False
    ) -> Draft:
        """Output ``index`` of the job, ``FIRST_FACTOR`` times larger, with its seed."""
        s = self.submissions
        job = await s._job(job_id)
        output = await s._output(job, index)
        owner = user_id == job.user_id
        params = upscale_params(job.params, FIRST_FACTOR, detail=detail, seed=output.seed, face=owner)
        source = (output.media, output.ext)
        return await self._derived(job, user_id, params, source, (output.width, output.height), guild_id)

    async def again(
        self, job_id: int, user_id: int, guild_id: int | None = None, *, factor: float, detail: bool
    ) -> Draft:
        """An upscale job's source once more, ``factor`` times larger, with or without detail."""
        s = self.submissions
        job = await s._job(job_id)
        if job.params.upscale is None:
            raise Gone(f"job {job_id} is not an upscale")
        owner = user_id == job.user_id
        if not owner and job.origin is not JobOrigin.UPSCALE:
            raise NotAllowed("this upscale is of a picture its owner uploaded, so only they can redo it")
        outputs = await s.jobs.outputs(job.id)
        source = await s._stored(job.input_media)
        if not outputs or source is None:
            raise Gone(f"the pictures of job {job_id} are gone (deleted or past the history window)")
        size = (round(outputs[0].width / job.params.upscale), round(outputs[0].height / job.params.upscale))
        params = upscale_params(job.params, factor, detail=detail, seed=job.params.seed, face=owner)
        return await self._derived(job, user_id, params, source, size, guild_id)

    async def _derived(
        self,
        job: Job,
        user_id: int,
        params: JobParams,
        source: StoredFile,
        size: tuple[int, int],
        guild_id: int | None,
    ) -> Draft:
        s = self.submissions
        draft = await s._derived(job, user_id, params, JobOrigin.UPSCALE, image=source, guild_id=guild_id)
        check_upscale(draft.params, size, s._limits, draft.policy)
        return draft
