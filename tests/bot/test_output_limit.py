"""The output limit: the bot's, or a server's when that is tighter, named in the refusal."""

from __future__ import annotations

import pytest

from bot.errors import InvalidRequest
from bot.guilds.policy import BotLimits, GuildPolicy
from bot.output_limit import check_output, check_upscale, output_limit
from bot.params import JobParams, Mode


def test_the_bots_limit_holds_unless_a_server_sets_less() -> None:
    bot = BotLimits(max_megapixels=16.0)
    assert output_limit(bot) == (16.0, "this bot's limit (LIKENESS_MAX_OUTPUT_MP)")
    assert output_limit(bot, GuildPolicy(max_megapixels=4.0)) == (4.0, "this server's limit")
    assert output_limit(bot, GuildPolicy(max_megapixels=20.0))[0] == 16.0  # never looser
    assert output_limit(bot, GuildPolicy())[0] == 16.0


def test_a_picture_at_the_limit_passes_and_one_over_is_refused_naming_it() -> None:
    bot = BotLimits(max_megapixels=16.0)
    check_output(4000, 4000, bot, None, "upscale 4×")  # exactly 16 MP
    with pytest.raises(InvalidRequest) as refused:
        check_output(4096, 4096, bot, None, "upscale 4×")
    assert str(refused.value) == (
        "upscale 4× would make a 4096×4096 px picture (16.8 megapixels), over this bot's limit "
        "(LIKENESS_MAX_OUTPUT_MP) of 16 megapixels: choose a smaller factor or a smaller picture"
    )
    with pytest.raises(InvalidRequest, match="over this server's limit of 1 megapixels"):
        check_output(1536, 1536, bot, GuildPolicy(max_megapixels=1.0), "zoom out 1.5×")


def test_an_upscale_is_checked_at_its_result_size_and_other_jobs_are_not() -> None:
    bot = BotLimits(max_megapixels=1.0)
    check_upscale(JobParams(prompt="x", mode=Mode.IMG2IMG, upscale=2.0), (500, 500), bot, None)  # 1 MP
    with pytest.raises(InvalidRequest, match="upscale 4× would make a 2048×2048 px picture"):
        check_upscale(JobParams(prompt="x", mode=Mode.IMG2IMG, upscale=4.0), (512, 512), bot, None)
    check_upscale(JobParams(prompt="x"), (5000, 5000), bot, None)  # not an upscale
