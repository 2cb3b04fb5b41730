"""The NSFW policy's one decision: where a flagged output may go."""

from __future__ import annotations

import pytest

from bot.nsfw_policy import (
    ApiKeyPlace,
    DirectMessage,
    GuildChannel,
    NsfwPolicy,
    Place,
    ServerNsfw,
    decide,
    withheld_note,
)

PLACES: list[Place] = [
    GuildChannel(age_restricted=True),
    GuildChannel(age_restricted=False),
    DirectMessage(),
    ApiKeyPlace(allows_nsfw=True),
    ApiKeyPlace(allows_nsfw=False),
]
DEFAULT = NsfwPolicy()
NEVER = NsfwPolicy(server=ServerNsfw.NEVER)


@pytest.mark.parametrize("place", PLACES)
def test_an_unflagged_output_goes_everywhere(place: Place) -> None:
    for policy in (DEFAULT, NEVER):
        assert decide(False, place, policy).post


@pytest.mark.parametrize(
    ("place", "policy", "post", "why"),
    [
        (GuildChannel(age_restricted=True), DEFAULT, True, None),
        (GuildChannel(age_restricted=False), DEFAULT, False, "this channel is not age-restricted"),
        (GuildChannel(age_restricted=True), NEVER, False, "this server allows"),
        (GuildChannel(age_restricted=False), NEVER, False, "this server allows"),
        (DirectMessage(), DEFAULT, False, "in direct messages"),
        (DirectMessage(), NsfwPolicy(direct_messages=True), True, None),
        (DirectMessage(), NsfwPolicy(direct_messages=True, server=ServerNsfw.NEVER), True, None),
        (ApiKeyPlace(allows_nsfw=True), DEFAULT, True, None),
        (ApiKeyPlace(allows_nsfw=False), NsfwPolicy(direct_messages=True), False, "this API key"),
    ],
)
def test_a_flagged_output(place: Place, policy: NsfwPolicy, post: bool, why: str | None) -> None:
    decision = decide(True, place, policy)
    assert decision.post is post
    if why is None:
        assert decision.reason is None
    else:
        assert decision.reason is not None and why in decision.reason


def test_a_server_setting_only_narrows_the_bot_wide_policy() -> None:
    """No server choice opens a channel Discord does not mark age-restricted."""
    normal = GuildChannel(age_restricted=False)
    for server in ServerNsfw:
        assert not decide(True, normal, DEFAULT.for_server(server)).post
    assert DEFAULT.for_server(ServerNsfw.NEVER).threshold == DEFAULT.threshold


def test_the_threshold_flags_scores_at_or_over_it_and_never_an_unchecked_output() -> None:
    policy = NsfwPolicy(threshold=0.7)
    assert [policy.flagged(s) for s in (0.0, 0.69, 0.7, 1.0)] == [False, False, True, True]
    assert not policy.flagged(None)
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError, match="threshold must be in"):
            NsfwPolicy(threshold=bad)


def test_the_note_says_how_many_and_why() -> None:
    assert withheld_note(1, 2, "this channel is not age-restricted") == (
        "1 of 2 images was withheld: flagged NSFW, and this channel is not age-restricted."
    )
    assert withheld_note(2, 2, "x").startswith("2 of 2 images were withheld: flagged NSFW")
    assert withheld_note(1, 1, "x").startswith("1 of 1 image was withheld")
