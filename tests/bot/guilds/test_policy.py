"""A server's settings as declared: each typed value read and checked (ranges, names, the bot's
limits that a server may only tighten, patterns that compile), and what they do to a job through
``bot.params.resolve``: defaults filled in, limits refused with messages that name them and never
echo a blocked word."""

from __future__ import annotations

import json

import pytest

from bot.errors import Blocked, InvalidRequest
from bot.guilds.blocklist import check_text, compile_entry
from bot.guilds.declared import SETTINGS, Choices, add_to_blocklist, policy_of
from bot.guilds.policy import BotLimits, GuildPolicy
from bot.nsfw_policy import ServerNsfw
from bot.params import Defaults, FaceLock, JobParams, Mode, resolve

LIMITS = BotLimits(daily_jobs=50)
CHOICES = Choices(styles=("photorealistic", "anime"), models=("photo", "xl"))


def read(name: str, text: str, policy: GuildPolicy | None = None) -> object:
    return SETTINGS[name].read(text, policy or GuildPolicy(), LIMITS, CHOICES)


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("steps", " 20 ", 20),
        ("max_steps", "40", 40),
        ("max_candidates", "2", 2),
        ("max_megapixels", "0.5", 0.5),
        ("modes", "text, IMG2IMG", ["img2img", "text"]),
        ("face_lock", "off", False),
        ("nsfw", "never", "never"),
        ("daily_jobs", "50", 50),
        ("style", "Anime", "anime"),
        ("model", "xl", "xl"),
        ("sampler", "euler a", "Euler a"),
        ("negative", "(blurry:1.2), text", "(blurry:1.2), text"),
    ],
)
def test_values_are_read_as_declared(name: str, text: str, value: object) -> None:
    assert read(name, text) == value
    assert json.loads(json.dumps(value)) == value  # what storage keeps


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("steps", "0", "steps must be between 1 and 100 (got 0)"),
        ("steps", "many", "steps takes a whole number (got “many”)"),
        (
            "max_steps",
            "150",
            "max_steps 150 is looser than this bot's limit of 100 steps: a server can only tighten it, "
            "so choose 100 or less",
        ),
        ("max_candidates", "5", "max_candidates 5 is looser than this bot's limit of 4 candidates"),
        ("max_candidates", "0", "max_candidates must be at least 1 (got 0)"),
        ("max_megapixels", "20", "max_megapixels 20 is looser than this bot's limit of 16 megapixels"),
        ("max_megapixels", "0", "max_megapixels must be above 0"),
        ("daily_jobs", "51", "daily_jobs 51 is looser than this bot's limit of 50 jobs a day"),
        (
            "modes",
            "text, sculpt",
            "modes takes a comma list of img2img, image_prompt, inpaint, outpaint, text",
        ),
        ("modes", " , ", "modes takes a comma list"),
        ("face_lock", "maybe", "face_lock takes on or off (got “maybe”)"),
        (
            "nsfw",
            "allow",
            "nsfw takes one of age_restricted, never (Discord allows images flagged NSFW only in "
            "age-restricted channels, so no server setting opens other channels)",
        ),
        ("style", "baroque", "unknown style “baroque”: choose one of photorealistic, anime"),
        ("model", "sd3", "unknown model “sd3”: choose one of photo, xl"),
        ("sampler", "fast", "unknown sampler “fast”"),
        ("negative", "(blurry:1.2", "negative prompt"),
        ("negative", "x" * 1001, "negative is 1001 characters; the limit is 1000"),
    ],
)
def test_bad_values_are_refused_with_what_to_do(name: str, text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        read(name, text)
    assert message in str(refused.value)


def test_defaults_and_limits_must_agree() -> None:
    with pytest.raises(InvalidRequest, match="steps 40 is over this server's max_steps of 30"):
        read("steps", "40", GuildPolicy(max_steps=30))
    with pytest.raises(InvalidRequest, match="default steps 40 is over max_steps 30: lower steps first"):
        read("max_steps", "30", GuildPolicy(steps=40))


def test_without_a_bot_wide_quota_a_server_may_set_any_sane_one() -> None:
    assert SETTINGS["daily_jobs"].read("500", GuildPolicy(), BotLimits(), CHOICES) == 500
    with pytest.raises(InvalidRequest, match="limit of 10000 jobs a day"):
        SETTINGS["daily_jobs"].read("20000", GuildPolicy(), BotLimits(), CHOICES)


def test_stored_values_become_the_policy() -> None:
    stored = {
        "steps": "12",
        "modes": '["text", "img2img"]',
        "nsfw": '"never"',
        "blocklist": '["gore", "/nud(e|ity)/"]',
        "face_lock": "false",
        "log_channel": "42",
        "retired_setting": '"ignored"',
    }
    policy = policy_of(stored)
    assert policy.steps == 12 and policy.modes == frozenset({Mode.TEXT, Mode.IMG2IMG})
    assert policy.nsfw is ServerNsfw.NEVER and policy.face_lock is False and policy.log_channel == 42
    assert policy.blocklist == ("gore", "/nud(e|ity)/")
    assert policy_of({}) == GuildPolicy() and GuildPolicy().nsfw is ServerNsfw.AGE_RESTRICTED


def test_the_server_defaults_fill_what_a_job_leaves_out() -> None:
    policy = GuildPolicy(negative="blurry", steps=12, style="anime", sampler="Euler a", model="xl")
    bot = Defaults(styles={"anime": ()})
    job = resolve(JobParams(prompt="a fox"), policy.defaults(bot))
    assert (job.negative, job.steps, job.style, job.sampler, job.model) == (
        "blurry",
        12,
        "anime",
        "Euler a",
        "xl",
    )
    given = resolve(
        JobParams(prompt="a fox", negative="text", steps=30, style="photorealistic", sampler="DDIM"),
        policy.defaults(bot),
    )
    assert (given.negative, given.steps, given.style, given.sampler) == ("text", 30, "photorealistic", "DDIM")
    assert resolve(job, policy.defaults(bot)) == job  # resolving again changes nothing
    assert resolve(JobParams(prompt="a fox"), GuildPolicy().defaults(bot)).steps == bot.steps


@pytest.mark.parametrize(
    ("policy", "params", "message"),
    [
        (
            GuildPolicy(max_steps=20),
            JobParams(prompt="a", steps=30),
            "steps 30 is over this server's limit of 20",
        ),
        (
            GuildPolicy(max_candidates=1),
            JobParams(prompt="a", candidates=3),
            "candidates 3 is over this server's limit of 1: choose 1 or fewer",
        ),
        (
            GuildPolicy(modes=frozenset({Mode.TEXT})),
            JobParams(prompt="a", mode=Mode.IMG2IMG),
            "this server does not allow mode img2img: it allows text",
        ),
        (
            GuildPolicy(face_lock=False),
            JobParams(prompt="a", face=FaceLock()),
            "face lock is turned off in this server: generate without a character",
        ),
    ],
)
def test_limits_refuse_a_job_naming_them(policy: GuildPolicy, params: JobParams, message: str) -> None:
    job = resolve(params, policy.defaults(Defaults()))
    with pytest.raises(InvalidRequest) as refused:
        policy.check(job)
    assert message in str(refused.value)
    GuildPolicy().check(job)  # the bot's own rules let it through


def test_the_megapixel_limit_reads_the_models_size_once_known() -> None:
    job = resolve(JobParams(prompt="a", model="xl"), Defaults())
    policy = GuildPolicy(max_megapixels=0.5)
    policy.check(job, native=512)
    policy.check(job, native=None)  # not loaded yet: its size is not known
    with pytest.raises(InvalidRequest, match=r"model xl makes 1024×1024 px images \(1.05 megapixels\), over"):
        policy.check(job, native=1024)


@pytest.mark.parametrize(
    ("entry", "prompt", "blocked"),
    [
        ("gore", "a GORE scene", True),
        ("gore", "Gore-tex jacket", True),  # whole words, any case: a hyphen ends a word
        ("gore", "gorey", False),
        ("gore", "al gore's speech", True),
        ("/nud(e|ity)/", "artistic NUDITY", True),
        ("/nud(e|ity)/", "nudge", False),
        ("blood bath", "a blood  bath", False),
        ("blood bath", "a blood bath", True),
    ],
)
def test_the_blocklist_matches_words_and_patterns(entry: str, prompt: str, blocked: bool) -> None:
    if blocked:
        with pytest.raises(Blocked) as refused:
            check_text([entry], prompt, "")
        message = str(refused.value)
        assert "prompt" in message and entry.strip("/").split("(")[0] not in message.lower()
        assert prompt.lower() not in message.lower()
    else:
        check_text([entry], prompt, "")


def test_the_negative_is_checked_too_and_the_message_says_which() -> None:
    policy = GuildPolicy(blocklist=("gore",))
    job = resolve(JobParams(prompt="a calm lake", negative="gore, blur"), Defaults())
    with pytest.raises(Blocked) as refused:
        policy.check(job)
    assert str(refused.value) == (
        "your negative prompt contains something this server's blocklist does not allow: "
        "rephrase it and try again"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "/nud(e/",
            "that blocklist pattern is not a valid regular expression (missing ), unterminated subpattern",
        ),
        ("/a*/", "matches an empty prompt"),
        ("   ", "this one is empty"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_a_bad_entry_is_refused(entry: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        compile_entry(entry)
    assert message in str(refused.value)
    with pytest.raises(InvalidRequest):
        add_to_blocklist([], entry)


def test_an_entry_is_added_once() -> None:
    assert add_to_blocklist(["gore"], " /nud(e|ity)/ ") == ["gore", "/nud(e|ity)/"]
    with pytest.raises(InvalidRequest, match="on the blocklist already"):
        add_to_blocklist(["gore"], "GORE")
