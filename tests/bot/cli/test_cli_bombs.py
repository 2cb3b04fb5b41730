"""Compressed bombs and oversize files given to ``generate`` and ``describe``: one line naming the size,
exit 2, no output written, and no model loaded for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.tiny import TinyBundle
from tests.bot.engine.bombs import BOMBS, refusal, spying
from tests.bot.engine.helpers import gradient_image, save


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bombs_on_the_command_line(
    tiny_bundle: TinyBundle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = ["--env-file", str(tiny_bundle.env_file)]
    out = tmp_path / "out"
    source = save(gradient_image(64, 64), tmp_path / "in.png")
    huge = tmp_path / "huge.png"
    with huge.open("wb") as sparse:
        sparse.truncate(26 * 2**20)  # 26 MiB on paper, nothing on disk
    loaded: list[str] = []
    monkeypatch.setattr("bot.engine.captions.Captioner.__init__", lambda *a, **k: loaded.append("captioner"))
    with spying(monkeypatch) as spies:
        for name, (make, size) in BOMBS.items():
            bomb = tmp_path / f"{name}.png"
            bomb.write_bytes(make())
            code = main([*env, "generate", "--image", str(bomb), "--prompt", "x", "--out", str(out)])
            assert code == 2 and refusal(size) in one_line(capsys), name
            inpaint = ["--image", str(source), "--mask", str(bomb), "--mode", "inpaint"]
            assert main([*env, "generate", *inpaint, "--prompt", "x", "--out", str(out)]) == 2
            assert refusal(size, "mask") in one_line(capsys), name
            assert main([*env, "describe", str(bomb)]) == 2 and refusal(size) in one_line(capsys), name
        for command in (
            ["generate", "--image", str(huge), "--prompt", "x", "--out", str(out)],
            ["describe", str(huge)],
        ):
            assert main([*env, *command]) == 2
            assert "is 26.0 MiB; the limit is 25 MiB" in one_line(capsys), command
    assert not spies.bomb_touched and loaded == [] and not out.exists()
