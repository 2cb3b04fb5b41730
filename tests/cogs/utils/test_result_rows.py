"""A result's buttons fit Discord's five rows of five in every case: face lock with four outputs
leaves no row for Upscale N, which the Zoom/pan panel then offers (it always does)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import discord

from cogs.utils.buttons import PANEL_EXTRAS, reframe_view, result_view
from cogs.utils.upscale_buttons import Upscale, add_upscale_buttons


def ids(view: discord.ui.View) -> list[str]:
    return [str(getattr(item, "custom_id", "")) for item in view.children]


def upscale_ids(view: discord.ui.View) -> list[str]:
    return [i for i in ids(view) if i.startswith("lk:upscale:")]


def with_upscale(outputs: int, *, character: bool) -> discord.ui.View:
    job: Any = SimpleNamespace(id=7, params=SimpleNamespace(upscale=None, strength=None))
    posted: Any = [SimpleNamespace(idx=i, width=64, height=64) for i in range(outputs)]
    view = result_view(7, list(range(outputs)), character=character, structure=True)
    add_upscale_buttons(view, job, posted, max_megapixels=16.0, enabled=True)
    return view


def test_upscale_has_row_four_without_face_lock() -> None:
    view = with_upscale(4, character=False)
    assert upscale_ids(view) == [f"lk:upscale:7:{i}" for i in range(4)]
    assert {getattr(item, "row", None) for item in view.children if "upscale" in str(item)} <= {4}


def test_face_lock_with_two_outputs_shares_row_four_and_with_four_leaves_it_to_the_panel() -> None:
    assert len(upscale_ids(with_upscale(2, character=True))) == 2  # 2 Add to character + 2 Upscale
    full = with_upscale(4, character=True)  # no ValueError from discord.py: every row holds ≤ 5
    assert upscale_ids(full) == []
    assert len(full.children) == 5 + 4 * 4  # Reroll … Show structure; Vary, Zoom/pan, Fix face, Add
    panel = reframe_view(7, 3, [button for button, _ in PANEL_EXTRAS])
    assert Upscale in [button for button, _ in PANEL_EXTRAS]
    assert upscale_ids(panel) == ["lk:upscale:7:3"]
