"""The job's body models, generated from ``bot.options``: one field per option, by its Discord name.

The schema carries each option's range, choices, length and default, so ``/openapi.json`` lets a
generated client check what it sends. Validation here checks only the types: the ranges and
choices are checked by the job's own rules (``bot.options.job_params`` and ``resolve``), so a
value out of range reads exactly as it does in Discord and on the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from bot.options import OPTIONS, VALUES
from bot.rules import Kind, Rule

_TYPES: dict[Kind, type] = {Kind.TEXT: str, Kind.WHOLE: int, Kind.NUMBER: float}
_ANNOTATED: Any = Annotated  # built at run time from a rule, so not a type a checker could read
_JSON_TYPES = {Kind.TEXT: "string", Kind.WHOLE: "integer", Kind.NUMBER: "number"}
URL_CHARS = 2000


def value_schema(rule: Rule) -> dict[str, Any]:
    """The JSON schema of one option's value (without null)."""
    schema: dict[str, Any] = {"type": _JSON_TYPES[rule.kind]}
    if rule.bounds is not None:
        schema["minimum"], schema["maximum"] = rule.bounds
    if rule.choices is not None:
        schema["enum"] = list(rule.choices)
    if rule.length is not None and rule.option != "prompt":  # the prompt counts without its LoRA tags
        schema["minLength"], schema["maxLength"] = rule.length
    return schema


def _field(rule: Rule) -> tuple[Any, Any]:
    """A generated field: typed for validation, documented with the rule's constraints."""
    kind = _ANNOTATED[_TYPES[rule.kind], WithJsonSchema(value_schema(rule))]
    annotation = kind if isinstance(rule.default, str) else kind | None
    return annotation, Field(default=rule.default, description=rule.described)


class _Options(BaseModel):
    """What every job body has besides the options: its webhook."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    webhook: str | None = Field(default=None, max_length=URL_CHARS, description="an https URL for job events")

    def values(self) -> dict[str, Any]:
        """The job options as ``bot.options.job_params`` takes them (the webhook left out)."""
        return {name: getattr(self, name) for name in VALUES}


if TYPE_CHECKING:  # the generated fields are read through ``values()``
    JobOptions = _Options
else:
    JobOptions = create_model(
        "JobOptions",
        __base__=_Options,
        __doc__="Every ``/generate`` option by its Discord name, and a webhook for the job's events.",
        **{name: _field(rule) for name, rule in OPTIONS.items() if not rule.file},
    )


class JobJson(JobOptions):
    """A JSON job: the images are fetched from URLs (http(s), public addresses only)."""

    image_url: str | None = Field(
        default=None,
        max_length=URL_CHARS,
        validation_alias=AliasChoices("image_url", "referenceImageUrl", "reference_image_url"),
    )
    mask_url: str | None = Field(default=None, max_length=URL_CHARS)


class JobForm(JobOptions):
    """A multipart job: the options as fields, and the files ``image`` (or ``file`` or
    ``reference_image``) and ``mask``. Documentation only: the files are read from the form."""

    image: bytes | None = Field(
        default=None, description=OPTIONS["image"].help, json_schema_extra={"format": "binary"}
    )
    mask: bytes | None = Field(
        default=None, description=OPTIONS["mask"].help, json_schema_extra={"format": "binary"}
    )
