"""What one server's settings mean for a job: its defaults (filled in through ``bot.params``'s
``Defaults``) and its limits, checked on the resolved job. Plain data, no Discord, no database.

Server limits only tighten the bot's own (``BotLimits``): a looser value is refused when it is set,
so a policy read back always lies within them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.errors import InvalidRequest
from bot.guilds.blocklist import check_text
from bot.nsfw_policy import ServerNsfw
from bot.params import CANDIDATES_RANGE, STEPS_RANGE, Defaults, JobParams, Mode


@dataclass(frozen=True, slots=True)
class BotLimits:
    """The bot-wide ceilings a server's limits must stay within."""

    max_steps: int = STEPS_RANGE[1]
    max_candidates: int = CANDIDATES_RANGE[1]
    max_megapixels: float = 16.0  # LIKENESS_MAX_OUTPUT_MP: the largest picture any job may make
    daily_jobs: int | None = None  # LIKENESS_DAILY_JOBS; None: no bot-wide quota


@dataclass(frozen=True, slots=True)
class GuildPolicy:
    """One server's settings, as typed values; None (or the default) is the bot's own behaviour."""

    negative: str | None = None
    steps: int | None = None
    style: str | None = None
    model: str | None = None
    sampler: str | None = None
    max_steps: int | None = None
    max_candidates: int | None = None
    max_megapixels: float | None = None
    modes: frozenset[Mode] | None = None
    face_lock: bool = True
    nsfw: ServerNsfw = ServerNsfw.AGE_RESTRICTED  # a server may only narrow Discord's rule
    blocklist: tuple[str, ...] = ()
    daily_jobs: int | None = None
    log_channel: int | None = None

    def defaults(self, bot: Defaults) -> Defaults:
        """The bot's defaults with this server's in their place."""
        return replace(
            bot,
            steps=self.steps if self.steps is not None else bot.steps,
            sampler=self.sampler or bot.sampler,
            model=self.model or bot.model,
            style=self.style or bot.style,
            negative=self.negative if self.negative is not None else bot.negative,
        )

    def check(self, params: JobParams, native: int | None = None) -> None:
        """``InvalidRequest`` for the first limit the resolved job passes; ``native`` is the side of
        the images its model makes (None: not known yet, as before a model's first load)."""
        if self.max_steps is not None and params.steps is not None and params.steps > self.max_steps:
            raise InvalidRequest(
                f"steps {params.steps} is over this server's limit of {self.max_steps}: "
                f"choose {self.max_steps} or fewer"
            )
        if self.max_candidates is not None and params.candidates > self.max_candidates:
            raise InvalidRequest(
                f"candidates {params.candidates} is over this server's limit of {self.max_candidates}: "
                f"choose {self.max_candidates} or fewer"
            )
        if self.modes is not None and params.describe is None and params.mode not in self.modes:
            allowed = ", ".join(m.value for m in Mode if m in self.modes)
            raise InvalidRequest(f"this server does not allow mode {params.mode.value}: it allows {allowed}")
        if params.face is not None and not self.face_lock:
            raise InvalidRequest("face lock is turned off in this server: generate without a character")
        if self.max_megapixels is not None and native is not None and native**2 / 1e6 > self.max_megapixels:
            raise InvalidRequest(
                f"model {params.model or 'default'} makes {native}×{native} px images "
                f"({native**2 / 1e6:.2f} megapixels), over this server's limit of "
                f"{self.max_megapixels:g}: choose a smaller model"
            )
        if self.blocklist:
            check_text(self.blocklist, params.prompt, params.negative)
