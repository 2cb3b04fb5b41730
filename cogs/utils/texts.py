"""The words and layouts users see: queue lines, progress bars, result embeds."""

from __future__ import annotations

import discord

from bot.choices import IdentityMode
from bot.engine.embeddings import Embedding
from bot.engine.family import Family
from bot.engine.loras import LoraFile
from bot.params import JobParams, shown, value_text
from bot.running.queue import Job
from bot.running.runners import ModelState
from storage import CancelOutcome, JobStatus, OutputRow

BAR_WIDTH = 12


def queued_text(job_id: int, position: int, length: int, wait_seconds: float) -> str:
    if position == 0:
        return f"Job {job_id}: starting now…"
    return f"Job {job_id}: queued, position {position} of {length} (about {duration(wait_seconds)} to start)"


def progress_text(job_id: int, step: int, total: int, elapsed: float, *, tiles: bool = False) -> str:
    """``tiles``: an upscale, whose progress is counted in tiles, not denoising steps."""
    total = max(total, 1)
    filled = round(BAR_WIDTH * step / total)
    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
    left = elapsed / step * (total - step) if step else 0.0
    doing, unit = ("upscaling", "tile") if tiles else ("generating", "step")
    return f"Job {job_id}: {doing} `{bar}` {unit} {step} of {total} (about {duration(left)} left)"


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _seed_text(job: Job, output: OutputRow) -> str:
    """The seed, with the face's identity score on face-locked jobs."""
    if job.params.face is None:
        return str(output.seed)
    score = "no face" if output.identity is None else f"identity {output.identity:.2f}"
    return f"{output.seed} ({score})"


def face_lock_text(job: Job, character: str | None = None) -> str | None:
    """ "Mara · weight 0.8 · min 0.5 · tries 2 of 3" for a face-locked job, else None.

    The character's name only when given: it is shown to its owner alone (characters are private).
    """
    face = job.params.face
    if face is None:
        return None
    parts = [discord.utils.escape_markdown(character)] if character else []
    parts.append(f"weight {face.weight:g}")
    if face.mode == IdentityMode.MEAN:
        parts.append("mean of the references")
    if face.min_identity is not None:
        parts.append(f"min {face.min_identity:g}")
    if job.tries is not None and (face.min_identity is not None or job.tries > 1):
        parts.append(f"tries {job.tries} of {face.max_tries}" if face.max_tries else f"tries {job.tries}")
    return " · ".join(parts)


def result_embed(
    job: Job, outputs: list[OutputRow], warnings: tuple[str, ...], *, withheld: int = 0
) -> discord.Embed:
    """``outputs``: those posted; ``withheld``: how many more were left out (their seeds are not shown)."""
    params = job.params
    embed = discord.Embed(
        title=f"Job {job.id} · {params.mode}",
        description=_clip(prompt_text(params), 1000),
        colour=discord.Colour.blurple(),
    )
    seeds = ", ".join(_seed_text(job, o) for o in outputs) or ("withheld" if withheld else str(params.seed))
    embed.add_field(name="Seed" if len(outputs) <= 1 else "Seeds (left to right)", value=seeds, inline=False)
    for rule, value in shown(params):
        if rule.summary:
            embed.add_field(name=rule.png or rule.label, value=value_text(value))
    face_lock = face_lock_text(job)
    if face_lock is not None:
        embed.add_field(name="Face lock", value=face_lock, inline=False)
    if outputs:
        embed.add_field(name="Size", value=f"{outputs[0].width}×{outputs[0].height}")
    if params.negative:
        embed.add_field(name="Negative", value=_clip(params.negative, 1000), inline=False)
    if warnings:
        embed.add_field(name="Notes", value=_clip("\n".join(f"• {w}" for w in warnings), 1000), inline=False)
    if job.engine_seconds is not None:
        embed.set_footer(
            text=f"{job.engine_seconds:.1f} s on the GPU worker · the PNGs carry these parameters"
        )
    return embed


SUGGESTION_LABELS = ("short", "detailed", "variant", "variant")


def prompt_text(params: JobParams) -> str:
    """The prompt as users read it; a job without one says why."""
    if params.prompt.strip():
        return params.prompt
    return "describe the image" if params.describe is not None else "(written from the image)"


def suggestions_embed(job: Job) -> discord.Embed:
    """A /describe job's prompts, numbered as its Use N buttons are."""
    embed = discord.Embed(title=f"Job {job.id} · describe", colour=discord.Colour.blurple())
    for n, prompt in enumerate(job.suggestions, start=1):
        label = SUGGESTION_LABELS[n - 1] if n <= len(SUGGESTION_LABELS) else "prompt"
        embed.add_field(name=f"{n} · {label}", value=_clip(prompt, 1000), inline=False)
    embed.set_footer(text="Use N: img2img of your image with that prompt · Use N as new: a new image from it")
    return embed


def finished_text(job: Job) -> str:
    """The job message's last line. The owner's mention shows whose job it is; it pings only on the
    channel post after the token expired (the one message allowed to); edits of the reply never do.
    ``job.error`` is public here, so no error stored on a job may name a character."""
    if job.status is JobStatus.DONE and job.params.describe is not None:
        return f"<@{job.user_id}> job {job.id} is done: {len(job.suggestions)} prompts from your image"
    if job.status is JobStatus.DONE:
        count = job.params.candidates
        return f"<@{job.user_id}> job {job.id} is done: {count} image{'s' if count > 1 else ''}"
    if job.status is JobStatus.CANCELLED:
        return f"Job {job.id} was cancelled."
    return f"<@{job.user_id}> job {job.id} failed: {job.error or 'unknown error'}"


def info_text(job: Job, outputs: list[OutputRow], character: str | None = None, *, withheld: int = 0) -> str:
    """Every setting of the job (each that applies to its mode), for the Info button. ``outputs``: those
    this channel may show; ``withheld``: how many more were flagged NSFW (no seed of theirs is shown)."""
    params = job.params
    lines = [
        f"**Job {job.id}** ({job.status.value}, {params.mode})",
        f"Prompt: {_clip(prompt_text(params), 900)}",
    ]
    if params.negative:
        lines.append(f"Negative: {_clip(params.negative, 300)}")
    lines.append(", ".join(f"{rule.label} {value_text(value)}" for rule, value in shown(params)))
    face_lock = face_lock_text(job, character)
    if face_lock is not None:
        lines.append(f"Face lock: {face_lock}")
    if outputs:
        lines.append("Seeds: " + ", ".join(f"#{o.idx + 1} {_seed_text(job, o)}" for o in outputs))
    if withheld:
        lines.append(f"{withheld} output{'s' if withheld > 1 else ''} withheld here: flagged NSFW")
    return "\n".join(lines)[:1900]


def lora_line(lora: LoraFile, family: Family | None) -> str:
    """One LoRA of /loras: its name, family and size, or why it cannot be used."""
    name = f"• **{discord.utils.escape_markdown(lora.name)}**"
    if lora.problem is not None:
        return f"{name}: cannot be used ({lora.problem})"
    fits = "" if family is None or lora.family in (None, family) else f" (not for this {family.label} model)"
    return f"{name}: {lora.family_label}, {lora.size / 2**20:.1f} MB{fits}"


def embedding_line(embedding: Embedding, family: Family | None) -> str:
    """One embedding of /loras: its name and family, or why it cannot be used."""
    name = f"• **{discord.utils.escape_markdown(embedding.name)}**"
    if embedding.problem is not None:
        return f"{name}: cannot be used ({embedding.problem})"
    fits = "" if family in (None, embedding.family) else f" (not for this {family.label} model)"
    return f"{name}: {embedding.family.label}, {len(embedding.vectors[0])} vectors{fits}"


def models_text(states: list[ModelState], budget: str) -> str:
    """``/models``: each checkpoint with its family and whether it is loaded, the default marked."""
    lines = [f"Models (choose with model:NAME; {budget} kept loaded, the least recently used dropped):"]
    for state in states:
        family = state.family or "family known once loaded"
        where = (
            "loaded"
            if state.loaded == 1
            else f"loaded on {state.loaded} workers"
            if state.loaded
            else "not loaded"
        )
        lines.append(f"• **{state.name}**{' (default)' if state.default else ''}: {family}, {where}")
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cancel_text(outcome: CancelOutcome, job_id: int) -> str:
    """What a cancel did (``JobActions.cancel`` raises for the other outcomes)."""
    if outcome is CancelOutcome.CANCEL_RUNNING:
        return f"job {job_id} is running: it stops at its next step"
    return f"job {job_id} was cancelled"
