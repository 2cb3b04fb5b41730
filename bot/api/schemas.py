"""Request and response bodies. FastAPI builds ``/openapi.json`` and ``/docs`` from these."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from bot.params import (
    CANDIDATES_RANGE,
    CFG_RANGE,
    IDENTITY_WEIGHT_RANGE,
    IMAGE_WEIGHT_RANGE,
    LORA_WEIGHT_RANGE,
    MAX_PROMPT_CHARS,
    MAX_TRIES_RANGE,
    MIN_IDENTITY_RANGE,
    SEED_MAX,
    STEPS_RANGE,
    STRENGTH_RANGE,
    STRUCTURE_WEIGHT_RANGE,
)

JobState = Literal["queued", "running", "succeeded", "failed", "canceled"]


class JobOptions(BaseModel):
    """Every ``/generate`` option by its Discord name. Ranges are checked by the job's own rules, so
    a value out of range reads as it does in Discord; here only the types are checked."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str = Field(
        default="",
        max_length=4 * MAX_PROMPT_CHARS,
        description="what to make; left out with an image, it is written from the image",
    )
    mode: Literal["text", "img2img", "image_prompt", "inpaint", "outpaint"] | None = Field(
        default=None, description="default img2img with an image, text without"
    )
    strength: float | None = Field(default=None, description=f"{STRENGTH_RANGE[0]}–{STRENGTH_RANGE[1]}")
    cfg: float | None = Field(default=None, description=f"{CFG_RANGE[0]:g}–{CFG_RANGE[1]:g}")
    steps: int | None = Field(default=None, description=f"{STEPS_RANGE[0]}–{STEPS_RANGE[1]}")
    seed: int | None = Field(default=None, description=f"0–{SEED_MAX}; random when left out")
    negative: str = Field(default="", max_length=4 * MAX_PROMPT_CHARS)
    candidates: int | None = Field(default=None, description=f"{CANDIDATES_RANGE[0]}–{CANDIDATES_RANGE[1]}")
    style: str | None = None
    aspect: str | None = Field(default=None, description="a new image's shape, e.g. 16:9")
    expand: str | None = Field(default=None, description="outpaint: a target ratio or a direction")
    image_weight: float | None = Field(
        default=None, description=f"{IMAGE_WEIGHT_RANGE[0]:g}–{IMAGE_WEIGHT_RANGE[1]:g}"
    )
    character: str | None = Field(default=None, description="face lock: one of your characters")
    character_weight: float | None = Field(
        default=None, description=f"{IDENTITY_WEIGHT_RANGE[0]:g}–{IDENTITY_WEIGHT_RANGE[1]:g}"
    )
    min_identity: float | None = Field(
        default=None, description=f"{MIN_IDENTITY_RANGE[0]:g}–{MIN_IDENTITY_RANGE[1]:g}"
    )
    max_tries: int | None = Field(default=None, description=f"{MAX_TRIES_RANGE[0]}–{MAX_TRIES_RANGE[1]}")
    identity_mode: Literal["all", "mean"] | None = None
    lora: str | None = Field(default=None, max_length=200, description='"anime:0.8, film"')
    lora_weight: float | None = Field(
        default=None, description=f"{LORA_WEIGHT_RANGE[0]:g}–{LORA_WEIGHT_RANGE[1]:g}"
    )
    structure: Literal["canny", "depth"] | None = Field(
        default=None, description="keep the image's composition: its edges (canny) or its depth"
    )
    structure_weight: float | None = Field(
        default=None, description=f"{STRUCTURE_WEIGHT_RANGE[0]:g}–{STRUCTURE_WEIGHT_RANGE[1]:g} (default 1)"
    )
    describe: Literal["standard", "detailed"] | None = Field(
        default=None, description="/describe: four prompts written from the image instead of images"
    )
    webhook: str | None = Field(default=None, max_length=2000, description="an https URL for job events")


class JobJson(JobOptions):
    """A JSON job: the images are fetched from URLs (http(s), public addresses only)."""

    image_url: str | None = Field(
        default=None,
        max_length=2000,
        validation_alias=AliasChoices("image_url", "referenceImageUrl", "reference_image_url"),
    )
    mask_url: str | None = Field(default=None, max_length=2000)


class JobForm(JobOptions):
    """A multipart job: the options as fields, and the files ``image`` (or ``file`` or
    ``reference_image``) and ``mask``. Documentation only: the files are read from the form."""

    image: bytes | None = Field(default=None, json_schema_extra={"format": "binary"})
    mask: bytes | None = Field(default=None, json_schema_extra={"format": "binary"})


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


class Added(BaseModel):
    character: str
    number: int
    role: Literal["primary", "reference"]
    warnings: list[str]


class Deleted(BaseModel):
    deleted: bool = True


class Worker(BaseModel):
    name: str
    ready: bool
    busy: bool
    error: str | None = Field(description="why it is not ready: its model failed to load, it died")


class Health(BaseModel):
    ok: bool
    model_loaded: bool
    worker_alive: bool
    worker_down_reason: str | None
    queue_length: int
    workers: list[Worker]
