"""The job message's progress line: denoising steps for a generation, tiles for an upscale."""

from __future__ import annotations

from cogs.utils.texts import progress_text


def test_a_generation_counts_steps_and_an_upscale_tiles() -> None:
    assert progress_text(3, 2, 4, 10.0) == "Job 3: generating `██████░░░░░░` step 2 of 4 (about 10 s left)"
    assert (
        progress_text(3, 1, 5, 2.0, tiles=True)
        == "Job 3: upscaling `██░░░░░░░░░░` tile 1 of 5 (about 8 s left)"
    )
