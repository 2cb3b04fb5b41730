"""Request and response bodies. FastAPI builds ``/openapi.json`` and ``/docs`` from these (the job
options' models are generated from their rules in ``bot.api.job_options``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "succeeded", "failed", "canceled"]


class JobAccepted(BaseModel):
    id: int
    status: JobState
    position: int = Field(description="1-based among waiting jobs; 0 = running")
    created_at: str


class Progress(BaseModel):
    step: int
    total: int


class Output(BaseModel):
    index: int
    url: str
    seed: int
    identity: float | None = Field(description="cosine of the face to the character; null: no face")
    width: int
    height: int
    nsfw: bool = Field(description="the NSFW check flagged it (its score at or over the threshold)")
    nsfw_score: float | None = Field(description="the NSFW classifier's score, 0–1; null: not checked")
    withheld: bool = Field(
        description="flagged, and this key does not allow flagged outputs: its url answers 403 nsfw_withheld"
    )


class JobView(BaseModel):
    id: int
    status: JobState
    position: int | None = Field(description="while queued: 1-based place in line; else null")
    progress: Progress
    outputs: list[Output]
    suggestions: list[str] = Field(
        default_factory=list, description="a /describe job's four prompts (it makes no outputs)"
    )
    structure_url: str | None = Field(
        default=None, description="the edge or depth map a ControlNet kept (PNG); null: no structure"
    )
    error: str | None
    warnings: list[str]
    parameters: dict[str, str | int | float | list[str] | None]
    created_at: str
    started_at: str | None
    finished_at: str | None


class JobPage(BaseModel):
    jobs: list[JobView]
    next_before: int | None = Field(description="pass as before= for the next page; null: no more")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Reference(BaseModel):
    number: int
    role: Literal["primary", "reference"]
    face_found: bool | None = Field(description="null: not analysed yet")
    similarity: float | None = Field(description="cosine to the rest of the set")
    quality: dict[str, object]
    created_at: str


class Character(BaseModel):
    name: str
    images: int
    created_at: str


class CharacterSet(Character):
    references: list[Reference]
    consistency: float | None = Field(description="mean similarity of the references to each other")


class CharacterList(BaseModel):
    characters: list[Character]


class NewCharacter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class Rename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="the new name")


class Added(BaseModel):
    character: str
    number: int
    role: Literal["primary", "reference"]
    warnings: list[str]


class ModelInfo(BaseModel):
    name: str = Field(description="what a job's model option takes")
    family: str | None = Field(description="SD 1.5 or SDXL; null until the model has loaded once")
    loaded: int = Field(description="workers holding it now")
    default: bool = Field(description="the model of a job that names none")


class ModelList(BaseModel):
    models: list[ModelInfo]
    kept_loaded: str = Field(description="how many models stay loaded (LIKENESS_MODEL_CACHE)")


class Forgotten(BaseModel):
    """What ``DELETE /v1/me`` deleted."""

    characters: int
    images: int = Field(description="reference images, each with its face embedding")
    jobs: int
    outputs: int
    files: int = Field(description="media files no one else uses")


class Deleted(BaseModel):
    deleted: bool = True


class Worker(BaseModel):
    name: str
    ready: bool
    busy: bool
    error: str | None = Field(description="why it is not ready: its model failed to load, it died")


class Health(BaseModel):
    """Open to anyone; the reasons and the workers' names and errors (which may name paths and hosts)
    only with a key."""

    ok: bool
    model_loaded: bool
    worker_alive: bool
    queue_length: int
    workers_ready: int = Field(description="GPU workers that take jobs")
    workers_total: int
    worker_down_reason: str | None = Field(description="with a key: why the worker takes no jobs")
    workers: list[Worker] | None = Field(description="with a key: each GPU worker; null without one")
