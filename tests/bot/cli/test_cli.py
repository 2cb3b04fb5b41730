"""``python -m bot``: the command line a user runs, on the tiny bundle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import box_mask, gradient_image, save

ROOT = Path(__file__).resolve().parents[3]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_") and k != "DISCORD_TOKEN"}
    env["LIKENESS_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_generate_subprocess_writes_pngs_and_prints_paths(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    src = save(gradient_image(80, 64), tmp_path / "in.png")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--env-file",
            str(tiny_bundle.env_file),
            "generate",
            "--image",
            str(src),
            "--mode",
            "img2img",
            "--prompt",
            "same face, rainy street",
            "--strength",
            "0.5",
            "--steps",
            "4",
            "--seed",
            "42",
            "--candidates",
            "2",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    paths = [Path(line) for line in proc.stdout.splitlines()]
    assert len(paths) == 2 and all(p.parent == out and p.exists() for p in paths)
    seeds = sorted(read_parameters(p.read_bytes())["Seed"] for p in paths)
    assert seeds == ["42", "43"]
    assert not list(out.glob(".tmp-*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "inpaint"], "inpaint needs a mask"),
        (["--strength", "1.5"], "strength must be between 0 and 1"),
        (["--candidates", "9"], "candidates must be between 1 and 4"),
        (["--steps", "2", "--strength", "0.3"], "no denoising step runs"),
        (["--negative", "blurry)"], "the negative prompt has a “)” at character 7 that closes no “(”"),
    ],
)
def test_generate_bad_input_is_one_line_and_exit_2(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    src = save(gradient_image(64, 64), tmp_path / "in.png")
    code = main(
        [
            "--env-file",
            str(tiny_bundle.env_file),
            "generate",
            "--image",
            str(src),
            "--prompt",
            "x",
            "--out",
            str(tmp_path / "out"),
            *args,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_generate_rejects_missing_and_non_image_files(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--env-file",
            str(tiny_bundle.env_file),
            "generate",
            "--image",
            str(tmp_path / "nope.png"),
            "--prompt",
            "x",
        ]
    )
    assert code == 2 and "cannot read the image file" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    code = main(["--env-file", str(tiny_bundle.env_file), "generate", "--image", str(notes), "--prompt", "x"])
    assert code == 2 and "not a picture" in capsys.readouterr().err


def test_generate_every_mode_in_process(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = save(gradient_image(64, 64), tmp_path / "in.png")
    mask = save(box_mask(64, 64, (16, 16, 48, 48)), tmp_path / "mask.png")
    env = ["--env-file", str(tiny_bundle.env_file), "generate", "--steps", "2", "--out", str(tmp_path / "o")]
    cases = [
        ["--prompt", "a lighthouse", "--aspect", "4:5"],
        ["--prompt", "p", "--image", str(src), "--mode", "image_prompt", "--image-weight", "1.0"],
        ["--prompt", "p", "--image", str(src), "--mode", "inpaint", "--mask", str(mask)],
        ["--prompt", "p", "--image", str(src), "--mode", "outpaint", "--expand", "left"],
        ["--prompt", "p", "--style", "cartoon"],
    ]
    for case in cases:
        assert main([*env, *case]) == 0, capsys.readouterr().err
        printed = capsys.readouterr().out.split()
        assert len(printed) == 1 and Path(printed[0]).exists()


def test_run_without_token_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), "run"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "DISCORD_TOKEN is not set" in proc.stderr


def test_invalid_setting_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIKENESS_DEVICE", "gpu")
    assert main(["--env-file", str(tmp_path / "none.env"), "generate", "--prompt", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "LIKENESS_DEVICE" in err


def test_missing_model_explains_where_to_put_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIKENESS_MODEL", str(tmp_path / "no-model"))
    monkeypatch.setenv("LIKENESS_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--env-file", str(tmp_path / "none.env"), "generate", "--prompt", "x", "--steps", "1"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "LIKENESS_MODEL" in err


@pytest.mark.parametrize(
    "command",
    ["run", "api", "generate", "upscale", "describe", "fetch-models", "tiny-models", "recompute-faces"],
)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m bot" in capsys.readouterr().out


def test_tiny_models_writes_a_loadable_bundle_and_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "bundle"
    assert main(["tiny-models", str(target)]) == 0
    env_file = Path(capsys.readouterr().out.strip())
    assert env_file == target / "tiny.env"
    lines = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
    assert Path(lines["LIKENESS_MODEL"]).is_dir() and Path(lines["LIKENESS_FACE_MODEL_DIR"]).is_dir()
    assert main(["tiny-models", str(target)]) == 0  # rebuilding in place replaces it cleanly
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_env_example_names_every_setting() -> None:
    """Every setting is documented in .env.example (and nothing there is unknown)."""
    from bot.app.settings import Settings

    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    keys = {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}
    from bot.app.settings import _env_name

    expected = {_env_name(name) for name in Settings.model_fields} - {"DISCORD_TOKEN"}
    assert keys == expected | {"DISCORD_TOKEN"}


def test_generate_with_loras(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = ["--env-file", str(tiny_bundle.env_file)]
    out = tmp_path / "out"
    base = [
        *env,
        "generate",
        "--prompt",
        "a boat <lora:glow:0.4>",
        "--steps",
        "2",
        "--seed",
        "1",
        "--out",
        str(out),
    ]
    assert main([*base, "--lora", "ink:0.7"]) == 0, capsys.readouterr().err
    fields = read_parameters(Path(capsys.readouterr().out.strip()).read_bytes())
    assert fields["prompt"] == "a boat, <lora:ink:0.7>, <lora:glow:0.4>"
    assert fields["Lora hashes"].startswith("ink: ")
    assert main([*base, "--lora", "nope"]) == 2
    assert "there is no LoRA called “nope”" in capsys.readouterr().err


def test_generate_with_structure_writes_the_map_too(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = save(gradient_image(96, 64), tmp_path / "source.png")
    out = tmp_path / "out"
    argv = [
        "--env-file",
        str(tiny_bundle.env_file),
        "generate",
        "--prompt",
        "a bridge",
        "--image",
        str(source),
    ]
    argv += ["--mode", "text", "--structure", "canny", "--structure-weight", "0.6", "--steps", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    said = capsys.readouterr()
    [image] = [Path(line) for line in said.out.split()]
    fields = read_parameters(image.read_bytes())
    assert (
        fields["Structure"] == "canny" and fields["Structure weight"] == "0.6" and fields["Size"] == "96x64"
    )
    [line] = [line for line in said.err.splitlines() if line.startswith("structure map: ")]
    assert Path(line.removeprefix("structure map: ")).name.endswith("-canny.png")
    assert main([*argv[:-4], "--out", str(out), "--structure-weight", "3"]) == 2
    assert "structure_weight must be between 0 and 2 (got 3" in capsys.readouterr().err


def test_describe_prints_four_prompts_for_the_family(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = save(gradient_image(96, 64), tmp_path / "photo.png")
    env = ["--env-file", str(tiny_bundle.env_file)]
    assert main([*env, "describe", str(source)]) == 0
    prompts = capsys.readouterr().out.splitlines()
    assert len(prompts) == 4 and all(p.endswith("highly detailed, sharp focus") for p in prompts)
    assert main([*env, "describe", str(source), "--detail", "--family", "sdxl"]) == 0
    assert [p.endswith(".") for p in capsys.readouterr().out.splitlines()] == [True] * 4
    assert main([*env, "describe", str(tmp_path / "nope.png")]) == 2
    assert "cannot read the image file" in capsys.readouterr().err
    (tmp_path / "off.env").write_text(tiny_bundle.env_file.read_text() + "LIKENESS_CAPTION_MODEL=none\n")
    assert main(["--env-file", str(tmp_path / "off.env"), "describe", str(source)]) == 2
    assert "describing images is off here" in capsys.readouterr().err


def test_upscale_writes_the_larger_picture_and_refuses_past_the_limit(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = save(gradient_image(64, 80), tmp_path / "photo.png")
    env = ["--env-file", str(tiny_bundle.env_file)]
    assert main([*env, "upscale", str(source), "--factor", "2", "--out", str(tmp_path / "out")]) == 0
    [written] = capsys.readouterr().out.splitlines()
    png = Path(written).read_bytes()
    fields = read_parameters(png)
    assert fields["Postprocess upscale by"] == "2" and fields["Size"] == "128x160"
    assert fields["Postprocess upscaler"] == "tiny-RealESRGAN_x4plus"
    assert main([*env, "upscale", str(source), "--factor", "9"]) == 2
    assert "upscale must be between 1.5 and 4" in capsys.readouterr().err
    assert main([*env, "upscale", str(source), "--prompt", "a cat"]) == 2
    assert "--prompt, --model and --seed are for the detail pass: add --detail" in capsys.readouterr().err
    (tmp_path / "small.env").write_text(tiny_bundle.env_file.read_text() + "LIKENESS_MAX_OUTPUT_MP=0.01\n")
    assert main(["--env-file", str(tmp_path / "small.env"), "upscale", str(source)]) == 2
    assert "over this bot's limit (LIKENESS_MAX_OUTPUT_MP) of 0.01 megapixels" in capsys.readouterr().err
    (tmp_path / "off.env").write_text(tiny_bundle.env_file.read_text() + "LIKENESS_UPSCALER=none\n")
    assert main(["--env-file", str(tmp_path / "off.env"), "upscale", str(source)]) == 2
    assert "upscaling is off on this bot" in capsys.readouterr().err


def test_generate_without_a_prompt_writes_it_from_the_image(
    tiny_bundle: TinyBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = save(gradient_image(64, 64), tmp_path / "photo.png")
    argv = ["--env-file", str(tiny_bundle.env_file), "generate", "--image", str(source), "--steps", "3"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr()
    assert "warning: no prompt was given, so the image was described: “" in said.err
    assert read_parameters(Path(said.out.strip()).read_bytes())["prompt"].strip()


def test_api_keys_from_the_command_line(
    tiny_bundle: TinyBundle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(tmp_path / "data"))
    env = ["--env-file", str(tiny_bundle.env_file)]
    assert main([*env, "api-key", "create", "--user", "42", "--name", "ci"]) == 0
    key, secret = capsys.readouterr().out.splitlines()
    assert key.startswith("lk_") and secret.startswith("whsec_")
    assert main([*env, "api-key", "list", "--user", "42"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("1\t") and "\tci\t" in listed and "never used\tactive" in listed
    assert key not in listed
    assert main([*env, "api-key", "revoke", "1"]) == 0
    assert capsys.readouterr().out == f"revoked key 1 ({key[:10]}…) of user 42\n"
    assert main([*env, "api-key", "list", "--user", "42"]) == 0
    assert "\trevoked " in capsys.readouterr().out
    assert main([*env, "api-key", "revoke", "9"]) == 2
    assert capsys.readouterr().err == "error: there is no API key 9\n"


def test_generate_refuses_a_zoom_over_the_output_limit_before_loading_the_model(
    tiny_bundle: TinyBundle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIKENESS_MAX_OUTPUT_MP", "0.01")
    src = save(gradient_image(64, 64), tmp_path / "in.png")
    out = tmp_path / "out"
    env = ["--env-file", str(tiny_bundle.env_file), "generate", "--steps", "2", "--out", str(out)]
    env += ["--prompt", "p", "--image", str(src), "--mode", "outpaint", "--expand"]
    code = main([*env, "zoom2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert "zoom out 2× would make a 128×128 px picture" in err and "of 0.01 megapixels" in err
    assert main([*env, "zoom1.5"]) == 0
    [written] = capsys.readouterr().out.split()
    assert read_parameters(Path(written).read_bytes())["Expand"] == "zoom1.5"
