"""``python -m bot recompute-faces`` re-embeds stored references after a backend change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from bot.app.settings import load_settings
from bot.characters.service import CharacterService
from bot.cli import main
from bot.running.worker import GpuWorker
from bot.tiny import TinyBundle
from storage import CharacterRepository, Database, Embedding, MediaStore
from tests.cogs.test_characters import face_photo


async def _build_set(settings_dir: Path, bundle: TinyBundle) -> tuple[int, int]:
    settings = load_settings(bundle.env_file, data_dir=settings_dir)
    db = await Database.open(settings.database_path)
    worker = GpuWorker(faces=settings.face_config)
    try:
        media = MediaStore(settings.media_dir)
        repo = CharacterRepository(db, media)
        service = CharacterService(repo, worker, backend=settings.face_backend)
        await worker.load_faces()
        character = await repo.create(42, "Mara")
        outcomes = await service.add_images(
            42, character, [("a.png", face_photo(1)), ("b.png", face_photo(1, face=100))]
        )
        assert [o.error for o in outcomes] == [None, None]
        refs = await repo.references(42, character.id)
        # Pretend they were made by another backend (different space and size).
        stale = {r.id: Embedding(np.ones(128, "<f4").tobytes(), "dlib", 128) for r in refs}
        await repo.set_embeddings(
            42, character.id, stale, Embedding(np.ones(128, "<f4").tobytes(), "dlib", 128)
        )
        return character.id, len(refs)
    finally:
        await db.close()
        worker.shutdown()


async def _embeddings(data_dir: Path, bundle: TinyBundle, character_id: int) -> list[Embedding | None]:
    settings = load_settings(bundle.env_file, data_dir=data_dir)
    db = await Database.open(settings.database_path)
    try:
        repo = CharacterRepository(db, MediaStore(settings.media_dir))
        refs = await repo.references(42, character_id)
        character = await repo.get(42, character_id)
        assert character is not None
        return [r.embedding for r in refs] + [character.embedding]
    finally:
        await db.close()


def test_recompute_faces_replaces_other_backends_embeddings(
    tiny_bundle: TinyBundle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    character_id, count = asyncio.run(_build_set(data, tiny_bundle))
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(data))
    assert main(["--env-file", str(tiny_bundle.env_file), "recompute-faces"]) == 0
    assert "recomputed 2 image(s) in 1 character(s) with insightface" in capsys.readouterr().out
    embeddings = asyncio.run(_embeddings(data, tiny_bundle, character_id))
    assert len(embeddings) == count + 1
    assert all(e is not None and e.backend == "insightface" and e.dim == 512 and e.vector for e in embeddings)
    # Nothing left to do: a second run touches nothing.
    assert main(["--env-file", str(tiny_bundle.env_file), "recompute-faces"]) == 0
    assert "recomputed 0 image(s) in 0 character(s)" in capsys.readouterr().out


def test_generate_with_character_reads_the_bots_database(
    tiny_bundle: TinyBundle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.engine.metadata import read_parameters

    data = tmp_path / "data"
    asyncio.run(_build_set(data, tiny_bundle))
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(data))
    env = ["--env-file", str(tiny_bundle.env_file)]
    assert main([*env, "recompute-faces"]) == 0  # back to this backend's embeddings
    capsys.readouterr()
    out = tmp_path / "out"
    assert (
        main(
            [
                *env,
                "generate",
                "--prompt",
                "Mara on a beach",
                "--character",
                "mara",
                "--user",
                "42",
                "--steps",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    path = Path(capsys.readouterr().out.strip())
    fields = read_parameters(path.read_bytes())
    assert fields["Face lock"] == "FaceID" and fields["Identity"] == "no face"

    assert main([*env, "generate", "--prompt", "x", "--character", "Theo", "--user", "42"]) == 2
    assert "no character called “Theo”" in capsys.readouterr().err
    assert main([*env, "generate", "--prompt", "x", "--character", "Mara", "--user", "7"]) == 2  # not yours
    assert main([*env, "generate", "--prompt", "x", "--min-identity", "0.5"]) == 2
    assert "score faces against a character: choose a character" in capsys.readouterr().err
    assert main([*env, "generate", "--prompt", "x", "--max-tries", "2"]) == 2
    assert "score faces against a character: choose a character" in capsys.readouterr().err

    # The server's retry budget and min_identity default apply to the command line too.
    monkeypatch.setenv("LIKENESS_MAX_TRIES", "2")
    monkeypatch.setenv("LIKENESS_MIN_IDENTITY", "0.9")
    many = ["--prompt", "x", "--character", "Mara", "--user", "42", "--steps", "2", "--out", str(out)]
    assert main([*env, "generate", *many, "--max-tries", "3"]) == 2
    assert "over this bot's retry budget of 2" in capsys.readouterr().err
    assert main([*env, "generate", *many, "--identity-mode", "mean"]) == 0
    printed = capsys.readouterr()
    assert "no face (2 tries)" in printed.err  # the tiny model draws no face: both tries are used
    fields = read_parameters(Path(printed.out.strip()).read_bytes())
    assert fields["Identity mode"] == "mean" and fields["Identity"] == "no face"
