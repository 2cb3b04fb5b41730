"""Zoom out and pan (Midjourney's Zoom Out 1.5×/2× and ⬅️➡️⬆️⬇️): an outpaint of one output.

Each reframe is one of the outpaint mode's own targets (``bot.choices``), so it runs the outpaint
path with its pre-filled canvas and feathered seam; only the picture, the target, the strength and
the seed change, and a face-locked job keeps its lock for its owner. The result keeps the output at
its own resolution (``bot.engine.outpaint``), so a zoom grows the picture: it is checked against the
output limit before anything is queued. Pure data and arithmetic: no Discord, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.engine.outpaint import outpaint_size
from bot.guilds.policy import BotLimits, GuildPolicy
from bot.output_limit import check_output
from bot.params import JobParams, Mode


@dataclass(frozen=True, slots=True)
class Reframe:
    """One reframe: its button's action (letters only, the ``custom_id``'s part), the outpaint target
    it runs, the button's label and how messages name it."""

    action: str
    expand: str
    label: str
    what: str


REFRAMES: tuple[Reframe, ...] = (
    Reframe("zoomout", "zoom1.5", "Zoom out 1.5×", "zoom out 1.5×"),
    Reframe("zoomfar", "zoom2", "Zoom out 2×", "zoom out 2×"),
    Reframe("panleft", "left", "⬅️", "pan left"),
    Reframe("panright", "right", "➡️", "pan right"),
    Reframe("panup", "up", "⬆️", "pan up"),
    Reframe("pandown", "down", "⬇️", "pan down"),
)
"""Zooms first, then the pans, in the order the panel shows them."""

REFRAME_BY_EXPAND = {r.expand: r for r in REFRAMES}


def reframed_params(params: JobParams, expand: str, *, owner: bool) -> JobParams:
    """A stored job's params as an outpaint of one of its outputs: the outpaint's own strength, one
    image, a new seed; everything else as it was. Only the owner keeps the face lock (another user's
    reframe, like their Vary, runs without the owner's character)."""
    return replace(
        params,
        mode=Mode.OUTPAINT,
        expand=expand,
        strength=None,
        candidates=1,
        seed=None,
        face=params.face if owner else None,
    )


def check_reframe(
    size: tuple[int, int], expand: str, limits: BotLimits, policy: GuildPolicy | None
) -> tuple[int, int]:
    """The size an outpaint of a ``size`` picture makes; ``InvalidRequest`` when that is over the
    output limit (naming it) or when the picture cannot be extended so (beyond 4:1)."""
    width, height = outpaint_size(size, expand)
    reframe = REFRAME_BY_EXPAND.get(expand)
    what = reframe.what if reframe is not None else f"outpaint {expand}"
    check_output(width, height, limits, policy, what)
    return width, height
