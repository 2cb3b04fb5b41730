"""The largest picture a job may make: ``LIKENESS_MAX_OUTPUT_MP``, or a server's tighter
``max_megapixels``. Upscales, the hires fix and zooms are checked against it before they are queued,
so a job never runs out of memory halfway through a picture nobody could upload."""

from __future__ import annotations

from bot.errors import InvalidRequest
from bot.guilds.policy import BotLimits, GuildPolicy
from bot.params import JobParams


def output_limit(bot: BotLimits, policy: GuildPolicy | None = None) -> tuple[float, str]:
    """The limit in megapixels, and whose it is (for the message)."""
    server = policy.max_megapixels if policy is not None else None
    if server is not None and server < bot.max_megapixels:
        return server, "this server's limit"
    return bot.max_megapixels, "this bot's limit (LIKENESS_MAX_OUTPUT_MP)"


def check_output(width: int, height: int, bot: BotLimits, policy: GuildPolicy | None, action: str) -> None:
    """``InvalidRequest`` naming the limit when ``action`` would make a ``width``×``height`` picture
    over it; ``action`` reads as the subject ("upscale 4×", "zoom out 2×")."""
    limit, whose = output_limit(bot, policy)
    megapixels = width * height / 1e6
    if megapixels > limit:
        raise InvalidRequest(
            f"{action} would make a {width}×{height} px picture ({megapixels:.3g} megapixels), over "
            f"{whose} of {limit:g} megapixels: choose a smaller factor or a smaller picture"
        )


def check_upscale(
    params: JobParams, size: tuple[int, int], bot: BotLimits, policy: GuildPolicy | None
) -> None:
    """``check_output`` for an upscale job of a ``size`` picture (nothing for any other job)."""
    factor = params.upscale
    if factor is not None:
        width, height = round(size[0] * factor), round(size[1] * factor)
        check_output(width, height, bot, policy, f"upscale {factor:g}×")
