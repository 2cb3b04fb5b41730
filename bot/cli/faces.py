"""``recompute-faces``: re-embed every stored reference after changing the face backend."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from tqdm import tqdm

if TYPE_CHECKING:
    from bot.app.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "recompute-faces",
        help="recompute all reference embeddings with the configured face backend",
        description="Embeddings from different face backends cannot be compared. After changing "
        "LIKENESS_FACE_BACKEND (or its models), run this with the bot stopped: every character's "
        "images are analysed again from the stored files and their embeddings replaced.",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bot.app.settings import load_settings

    settings = load_settings(args.env_file)
    characters, images, faceless = asyncio.run(_recompute(settings))
    print(
        f"recomputed {images} image(s) in {characters} character(s) with {settings.face_backend}; "
        f"{faceless} image(s) have no face for this backend"
    )
    return 0


async def _recompute(settings: Settings) -> tuple[int, int, int]:
    from bot.characters.recompute import recompute_all
    from bot.running.worker import GpuWorker
    from storage import CharacterRepository, Database, MediaStore

    db = await Database.open(settings.database_path)
    # No diffusion model: only faces are analysed.
    worker = GpuWorker(
        faces=settings.face_config,
        face_pack_url=settings.face_pack_url,
        face_pack_sha256=settings.face_pack_sha256,
        offline=settings.offline,
    )
    try:
        media = MediaStore(settings.media_dir)
        repo = CharacterRepository(db, media)
        with tqdm(desc="characters", unit="set", file=sys.stderr, leave=False) as bar:
            return await recompute_all(repo, media, worker, settings.face_backend, lambda name: bar.update(1))
    finally:
        await db.close()
        worker.shutdown()
