"""Speed's rules in ``resolve``: fast and turbo fill in their steps and CFG and leave the sampler to
the acceleration LoRA; what a few-step model cannot take is refused with the fix; strength × steps
still gives one step; a distilled checkpoint's rule holds in every speed."""

from __future__ import annotations

import pytest

from bot.errors import InvalidRequest
from bot.params import DEFAULT_CFG, SPEED_RULES, Defaults, JobParams, Mode, SpeedRule, resolve


def job(**values: object) -> JobParams:
    return JobParams(prompt="a boat", seed=1, **values)  # type: ignore[arg-type]


def test_quality_is_the_default_and_keeps_the_servers_steps_cfg_and_sampler() -> None:
    params = resolve(job(), Defaults(steps=25, sampler="Euler"))
    assert (params.speed, params.steps, params.cfg, params.sampler) == ("quality", 25, DEFAULT_CFG, "Euler")


@pytest.mark.parametrize("speed", ["fast", "turbo"])
def test_fast_and_turbo_fill_in_their_own_steps_and_cfg(speed: str) -> None:
    rule = SPEED_RULES[speed]
    params = resolve(job(speed=speed), Defaults(steps=40))
    assert (params.steps, params.cfg, params.sampler, params.schedule) == (rule.steps, rule.cfg, None, None)
    assert resolve(params) == params  # resolving resolved params changes nothing
    given = resolve(job(speed=speed, steps=rule.max_steps, cfg=rule.max_cfg, sampler="Euler"))
    assert (given.steps, given.cfg, given.sampler) == (rule.max_steps, rule.max_cfg, "Euler")


def test_the_servers_default_speed_applies_to_a_job_that_names_none() -> None:
    assert resolve(job(), Defaults(speed="turbo")).steps == SPEED_RULES["turbo"].steps
    assert resolve(job(speed="quality"), Defaults(speed="turbo")).steps == 30


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"speed": "turbo", "steps": 9},
            "speed turbo runs 4 steps .* Choose 8 steps or fewer, or speed quality",
        ),
        ({"speed": "fast", "cfg": 3.5}, "speed fast takes CFG 1.5 .* Choose CFG 3 or less, or speed quality"),
        ({"speed": "warp"}, "unknown speed 'warp': choose one of quality, fast, turbo"),
    ],
)
def test_what_a_few_step_speed_cannot_take_is_refused(values: dict[str, object], expected: str) -> None:
    with pytest.raises(InvalidRequest, match=expected):
        resolve(job(**values))


def test_a_low_strength_raises_the_steps_to_one_denoising_step() -> None:
    params = resolve(job(speed="turbo", mode=Mode.IMG2IMG, strength=0.1))
    assert params.steps == 10 and resolve(params) == params  # 10 × 0.1: one step; not refused again
    assert resolve(job(speed="turbo", mode=Mode.IMG2IMG, strength=0.5)).steps == 4
    with pytest.raises(InvalidRequest, match="use at least 5 steps"):  # given, it is the user's to change
        resolve(job(speed="turbo", mode=Mode.IMG2IMG, strength=0.2, steps=4))


def test_a_distilled_checkpoint_runs_its_rule_in_every_speed() -> None:
    rule = SpeedRule(4, 1.0, 8, 2.0, "Euler", "SGM Uniform", "this checkpoint")
    defaults = Defaults(model="photo", distilled={"lightning": rule})
    for speed in ("quality", "fast", "turbo"):
        params = resolve(job(speed=speed, model="lightning"), defaults)
        assert (params.steps, params.cfg, params.sampler, params.schedule) == (4, 1.0, "Euler", "SGM Uniform")
    assert resolve(job(model="photo"), defaults).steps == 30  # the other model: quality as it is
    with pytest.raises(InvalidRequest, match="this distilled model runs 4 steps"):
        resolve(job(model="lightning", steps=20), defaults)
