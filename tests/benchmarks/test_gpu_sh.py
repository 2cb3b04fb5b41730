"""``benchmarks/gpu.sh --dry-run``: every row of the GPU benchmark, end to end on the CPU with the
tiny bundles; a configuration this build has no setting for is said so, never run unlabelled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.tiny import TinyBundle

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"
CONFIGS = ("plain", "step cache", "compile")  # compile with step cache is refused at start


@pytest.mark.timeout(1200)  # two processes of three speeds each, on a shared CPU
def test_the_dry_run_prints_every_row(tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle) -> None:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "GPU_BENCH_SD15_ENV": str(tiny_bundle.env_file),
        "GPU_BENCH_SDXL_ENV": str(tiny_sdxl_bundle.env_file),
        "GPU_BENCH_BUDGET": "1200",
    }
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| model · config | speed | steps | diffusers s/image")
    rows = [line.split(" | ") for line in lines[2:] if line.startswith("| ")]
    for family in ("sd15", "sdxl"):
        measured = [r for r in rows if r[0] == f"| {family} · plain"]
        assert [r[1] for r in measured] == ["quality", "fast", "turbo"]
        assert [r[2] for r in measured] == ["2", "8", "4"]  # quality's steps as given, the speeds' own
        for config in CONFIGS[1:]:
            found = [r for r in rows if r[0] == f"| {family} · {config}"]
            assert found, (family, config)
            # measured where this build has the setting, else said so in one line
            assert len(found) == 3 or "is not a setting of this build" in found[0][1], found
    assert "dry run on the CPU with the tiny bundle (not a measurement)" in proc.stdout


def test_without_a_gpu_the_real_run_refuses_in_one_line() -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "benchmarks/gpu.sh: no CUDA device here; run it on a GPU machine, or use --dry-run"
    )
