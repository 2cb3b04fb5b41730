"""Style presets: a prompt template and negative additions, so users get a look without prompt craft."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Style:
    name: str
    template: str  # "{prompt}" is replaced by the user's prompt
    negative: str

    def apply(self, prompt: str, negative: str) -> tuple[str, str]:
        styled = self.template.format(prompt=prompt)
        merged = ", ".join(part for part in (negative.strip(), self.negative) if part)
        return styled, merged


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            "photorealistic",
            "{prompt}, photograph, natural light, realistic skin texture, sharp focus, 50mm lens",
            "painting, illustration, cartoon, cgi, plastic skin, oversaturated, blurry",
        ),
        Style(
            "artistic",
            "{prompt}, painterly artwork, expressive brushwork, rich colour, fine art composition",
            "photo, flat lighting, low detail, watermark",
        ),
        Style(
            "cartoon",
            "{prompt}, cartoon illustration, clean bold outlines, flat cel shading, vibrant colours",
            "photo, realistic, noisy, grainy, muddy colours",
        ),
        Style(
            "minimalist",
            "{prompt}, minimalist, simple composition, negative space, muted palette, clean background",
            "cluttered, busy background, ornate, noisy, text",
        ),
        Style(
            "vintage",
            "{prompt}, vintage film photograph, 1970s, film grain, faded warm colours, soft contrast",
            "digital look, modern, oversharpened, hdr",
        ),
        Style(
            "futuristic",
            "{prompt}, futuristic, sleek sci-fi design, neon rim light, high-tech materials, cinematic",
            "rustic, old-fashioned, low detail, dull colours",
        ),
    )
}
