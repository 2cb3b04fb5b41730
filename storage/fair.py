"""The fair pick with model affinity: round-robin over users, reordered within a round for a loaded model.

Without a preference the next job is the fair head: the oldest queued job of the user served least
recently (``storage.jobs``). Switching checkpoints costs seconds to minutes, so the queue runs in
rounds, and within a round the jobs for a loaded model go first:

    A round is the users with queued work who have not been served since it began. The next job is
    the first of theirs, in the fair order, whose model is loaded; if none is, the fair head (and its
    model is loaded for it). When every user of the round has been served, the next round begins.

So every user is still served once per round, as in plain round-robin: nobody loses a turn, and a
job waits at most one round longer than it would have (at most ``2 × (users - 1)`` jobs run before
it once it is its user's next). With two models and room for one, a round swaps at most once.
The round's start is kept in the database, so the rule holds across restarts. A user's own jobs
never reorder: they run in the order they were queued.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Head:
    """A user's oldest queued job, as the pick sees it."""

    job_id: int
    user_id: int
    model: str | None  # None: the default model (jobs from before models were named)
    served_seq: int  # when its user was last served (0: never)


@dataclass(frozen=True, slots=True)
class Pick:
    chosen: Head
    round_seq: int  # the round it was picked in: its users are those served at or before this


def pick(heads: Sequence[Head], warm: Iterable[str | None], *, round_seq: int, newest_seq: int) -> Pick:
    """The job to run from ``heads`` (in fair order, never empty) when the models in ``warm`` are
    loaded. ``round_seq`` is the current round's start and ``newest_seq`` the serve counter now."""
    in_round = [h for h in heads if h.served_seq <= round_seq]  # a prefix of the fair order
    if not in_round:  # everyone waiting has been served this round: the next one begins
        round_seq = newest_seq
        in_round = list(heads)
    loaded = set(warm)
    chosen = next((h for h in in_round if h.model in loaded), in_round[0])
    return Pick(chosen, round_seq)


def next_warm(warm: list[str | None], model: str | None, keep: int) -> list[str | None]:
    """The loaded models after a job on ``model`` ran: it becomes the most recent; beyond ``keep``
    the least recently used is dropped (the engine's rule, for the queue's forecast)."""
    after = [m for m in warm if m != model] + [model]
    return after[-max(1, keep) :]
