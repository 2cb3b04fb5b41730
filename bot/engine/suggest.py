"""Four prompts from an image's captions, each usable as it stands (``/describe``).

A captioning model says what is in the picture; it does not write prompts. This turns its three
captions (short, detailed, more detailed) into a short prompt, a detailed one, and two variants that
keep the subject and change the style and the lighting. The prompts follow the model family: SDXL
reads natural sentences best; SD 1.5, trained on alt text, reads a sentence followed by a comma list
of tags best. No attention weights such as ``(word:1.2)``: a caption's own brackets are escaped,
so the engine reads them as written, not as weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.engine.family import Family
from bot.prompt_syntax import escape

MAX_WORDS = 55  # CLIP reads 75 tokens; about this many words of plain English fit with room to spare

# (style, lighting) pairs for the variants; the first two whose words the caption does not already use.
VARIANTS: tuple[tuple[str, str], ...] = (
    ("a cinematic film still, 35mm, shallow depth of field", "golden hour light, warm rim light"),
    (
        "a soft watercolor illustration, loose brushwork, paper texture",
        "diffuse overcast light, pastel palette",
    ),
    ("a studio portrait photograph, sharp focus", "dramatic low-key lighting, deep shadows"),
    ("a digital painting, concept art, rich detail", "neon night lighting, teal and magenta glow"),
    ("a black and white photograph, fine grain", "hard midday sun, high contrast"),
)
SD15_TAGS = "highly detailed, sharp focus"  # plain tags SD 1.5 was trained on; no weights


@dataclass(frozen=True, slots=True)
class Captions:
    """What the captioning model said of one image, from ``<CAPTION>`` to ``<MORE_DETAILED_CAPTION>``."""

    short: str
    detailed: str
    more_detailed: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    label: str  # "short", "detailed", "variant"
    prompt: str


def suggest(captions: Captions, family: Family) -> tuple[Suggestion, ...]:
    """Short, detailed, and two style-and-lighting variants of the subject, for ``family``."""
    short = _clean(captions.short) or _clean(captions.detailed) or "a photograph"
    detailed = _clean(captions.more_detailed) or _clean(captions.detailed) or short
    subject = _words(_first_sentence(short), MAX_WORDS // 2)  # room for a variant's style and light
    chosen = [v for v in VARIANTS if not _overlaps(v, captions)][:2]
    chosen += [v for v in VARIANTS if v not in chosen][: 2 - len(chosen)]
    prompts = [
        Suggestion("short", _for_family(subject, family)),
        Suggestion("detailed", _for_family(_words(detailed, MAX_WORDS), family)),
        *(
            Suggestion("variant", _for_family(f"{subject}, as {style}, {light}", family))
            for style, light in chosen
        ),
    ]
    return tuple(prompts)


def _for_family(text: str, family: Family) -> str:
    text = text.rstrip(" .,;")
    if family is Family.SD15:
        return f"{text}, {SD15_TAGS}"
    return f"{text[0].upper()}{text[1:]}." if text else text


def _clean(caption: str) -> str:
    """Model output as prose: no task tokens or markup, one space, no "The image shows" opener, its
    brackets escaped (A1111's syntax would read them as weights, an unpaired one as a mistake)."""
    text = re.sub(r"</?[a-z_]+>|<[^>]*>", " ", caption)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(
        r"^(?:the|this|in this) (?:image|picture|photo(?:graph)?) (?:shows|depicts|is of)\s+",
        "",
        text,
        flags=re.I,
    )
    text = text.strip(" .")
    return escape(text) if re.search(r"\w", text) else ""  # punctuation alone is no caption


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".!? ")


def _words(text: str, limit: int) -> str:
    """At most ``limit`` words, cut at a sentence end when one is near enough."""
    words = text.split()
    if len(words) <= limit:
        return text
    cut = " ".join(words[:limit])
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > len(cut) // 2 else cut


def _overlaps(variant: tuple[str, str], captions: Captions) -> bool:
    said = f"{captions.short} {captions.detailed} {captions.more_detailed}".lower()
    keys = {w for w in re.findall(r"[a-z]+", " ".join(variant).lower()) if len(w) > 4}
    return any(re.search(rf"\b{k}\b", said) for k in keys)
