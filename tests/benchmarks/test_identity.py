"""``benchmarks/identity.py``: runs end to end on the tiny bundle, and its all-vs-mean verdict."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from bot.tiny import TinyBundle

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "identity.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("identity_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_runs_end_to_end_on_the_tiny_bundle(tiny_bundle: TinyBundle) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--env-file", str(tiny_bundle.env_file)),
            *("--scenes", "1", "--steps", "2"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| character | face lock | mean identity")
    assert sum(line.startswith("| character-") for line in lines) == 6  # 2 characters × off/all/mean
    assert lines[-1] == "all vs mean: too few faces found to compare"  # a random model draws no face


def test_verdict_pairs_scenes_and_says_when_the_difference_is_noise() -> None:
    bench = _module()

    def rows(all_scores: list[float | None], mean_scores: list[float | None]) -> list[object]:
        return [bench.Row("a", "FaceID all", all_scores), bench.Row("a", "FaceID mean", mean_scores)]

    clear = bench.verdict(rows([0.62, 0.58, 0.66, 0.61], [0.52, 0.50, 0.55, 0.50]))
    assert clear.startswith("all − mean = +0.100") and clear.endswith("all holds identity better")
    assert bench.verdict(rows([0.4, 0.5, None], [0.5, 0.6, 0.3])).endswith("mean holds identity better")
    noisy = bench.verdict(rows([0.7, 0.3, 0.6, 0.4], [0.3, 0.7, 0.4, 0.6]))
    assert noisy.endswith("no clear difference")
    assert bench.verdict(rows([None, 0.5], [None, None])) == "all vs mean: too few faces found to compare"
