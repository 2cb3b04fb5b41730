"""The closed sets every label value comes from: what keeps the metrics' cardinality bounded.

A job's mode is ``bot.params.Mode``; the rest are here. Anything open-ended — a user, job or key id,
a prompt, a URL, a worker's name — is never a label."""

from __future__ import annotations

from enum import StrEnum

from bot.running.queue import Job
from storage.rows import FINISHED_STATUSES

OUTCOMES = tuple(sorted(s.value for s in FINISHED_STATUSES))  # cancelled, done, failed
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED = "unmatched"  # no route: a 404, or a body refused before routing


class Source(StrEnum):
    """Who queued a job, as far as its row tells."""

    DISCORD = "discord"
    API = "api"
    CLI = "cli"  # nobody waits on it: the command line's and the benchmarks' jobs

    @classmethod
    def of(cls, job: Job) -> Source:
        if job.api_key_id is not None:
            return cls.API
        if job.application_id is not None or job.channel_id is not None:
            return cls.DISCORD
        return cls.CLI


class WebhookOutcome(StrEnum):
    """What one webhook try came to."""

    DELIVERED = "delivered"
    RETRYING = "retrying"  # failed; tried again later
    GIVEN_UP = "given_up"  # failed for the last time, or its key was revoked


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD
