"""Getting the models onto the machine: the insightface face pack on first start, and ``fetch-models``
ahead of time for everything the settings name.

The face pack comes through insightface's own model-zoo download (its progress bar included), from
``LIKENESS_FACE_PACK_URL``. It is unpacked beside its final folder and moved into place in one
rename, so a download that breaks leaves nothing half there. ``LIKENESS_OFFLINE=1`` turns every
download off; what is missing then says where to put it. Diffusion models and adapters come from the
Hugging Face hub into its cache (``huggingface_hub``'s own progress bars).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.choices import Structure
from bot.engine.config import AdapterSource, EngineConfig
from bot.engine.faces.factory import FaceConfig
from bot.engine.family import CONTROLNETS, Family
from bot.errors import ModelUnavailable

log = logging.getLogger(__name__)

DEFAULT_FACE_PACK_URL = "https://github.com/deepinsight/insightface/releases/download/model-zoo/"
# What insightface's authors say of their packs; logged whenever one is fetched.
PACK_LICENCES = {
    "buffalo_l": "non-commercial research only",
    "buffalo_m": "non-commercial research only",
    "buffalo_s": "non-commercial research only",
    "buffalo_sc": "non-commercial research only",
    "antelopev2": "non-commercial research only",
}


def has_face_pack(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.onnx"))


def ensure_face_pack(config: FaceConfig, url: str, offline: bool = False) -> Path | None:
    """The insightface pack in ``config.model_dir``, downloaded when missing (None: nothing to do, or
    another backend). Offline, a missing pack is left for the analyzer to report."""
    folder = config.model_dir
    if config.backend != "insightface" or has_face_pack(folder) or offline:
        return None
    return download_face_pack(folder, url)


def download_face_pack(folder: Path, url: str) -> Path:
    """``<url><name>.zip`` unpacked into ``folder`` (its name is the pack's), all or nothing."""
    from insightface.utils import storage

    name = folder.name
    licence = PACK_LICENCES.get(name, "see the pack's own terms")
    log.warning("downloading the insightface face pack %s from %s (licence: %s)", name, url, licence)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.download-", dir=folder.parent))
    try:
        storage.MODEL_ZOO_RELEASE_DOWNLOAD_URL = url if url.endswith("/") else url + "/"
        with contextlib.redirect_stdout(sys.stderr):  # insightface prints its steps; stdout is the CLI's
            unpacked = Path(storage.download("packs", name, force=True, root=str(staging)))
        models = _onnx_folder(unpacked)
        if models is None:
            raise ModelUnavailable(f"the face pack {name}.zip from {url} holds no .onnx models")
        models.rename(folder)
    except ModelUnavailable:
        raise
    except Exception as exc:
        raise ModelUnavailable(
            f"could not download the face pack {name} from {url} ({exc}); unzip it into {folder} by hand, "
            "or set LIKENESS_FACE_PACK_URL"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.warning("face pack %s is in %s (licence: %s)", name, folder, licence)
    return folder


def _onnx_folder(unpacked: Path) -> Path | None:
    """Where the .onnx files are: the zip's top, or its one folder (antelopev2's zip nests one)."""
    if any(unpacked.glob("*.onnx")):
        return unpacked
    inner = [p for p in unpacked.iterdir() if p.is_dir() and any(p.glob("*.onnx"))]
    return inner[0] if len(inner) == 1 else None


@dataclass(frozen=True, slots=True)
class Fetched:
    what: str
    where: str
    note: str  # "downloaded", "already here", "local"


def fetch_all(
    engine: EngineConfig, faces: FaceConfig, face_pack_url: str, report: Callable[[Fetched], None]
) -> list[Fetched]:
    """Download everything the settings name that is not on this machine yet; report each as it ends."""
    done: list[Fetched] = []

    def note(item: Fetched) -> None:
        done.append(item)
        report(item)

    model = _fetch_model("diffusion model", engine.model)
    note(model)
    config = None
    if engine.model_config is not None:
        config = _fetch_model("single-file config", engine.model_config)
        note(config)
    from bot.engine.describe import family_from_files
    from bot.engine.pipelines import with_family_defaults  # diffusers: only when fetching

    family = family_from_files(model.where, config.where if config is not None else None) or Family.SD15
    plain, faceid = with_family_defaults(family, engine.ip_adapter, engine.faceid_adapter)
    for what, source in (("IP-Adapter", plain), ("IP-Adapter FaceID", faceid)):
        if source is not None:
            note(_fetch_adapter(what, source))
    if engine.vae is not None:
        note(_fetch_model("VAE", engine.vae, ["*.json", "*.safetensors", "vae/*"]))
    if engine.inpaint_model is not None:  # only its UNet is used
        note(_fetch_model("inpainting model", engine.inpaint_model, ["model_index.json", "unet/*"]))
    for kind, where in engine.controlnets.items():
        if kind in engine.structures:
            controlnet = CONTROLNETS[family][kind] if where.lower() == "auto" else where
            note(
                _fetch_model(
                    f"{kind} ControlNet", controlnet, ["*.json", "diffusion_pytorch_model.safetensors"]
                )
            )
    if Structure.DEPTH in engine.structures and engine.depth_model is not None:
        note(_fetch_model("depth model", engine.depth_model))
    if engine.caption_model is not None:
        note(_fetch_model("caption model", engine.caption_model))
    if faces.backend == "insightface":
        if has_face_pack(faces.model_dir):
            note(Fetched("face pack", str(faces.model_dir), "already here"))
        else:
            note(Fetched("face pack", str(download_face_pack(faces.model_dir, face_pack_url)), "downloaded"))
    return done


def _fetch_model(what: str, model: str, patterns: list[str] | None = None) -> Fetched:
    local = Path(model).expanduser()
    if local.exists():
        return Fetched(what, str(local), "local")
    from huggingface_hub import snapshot_download

    try:
        where = snapshot_download(
            model, allow_patterns=patterns or ["*.json", "*.txt", "*.safetensors", "*.model"]
        )
    except Exception as exc:
        raise ModelUnavailable(
            f"could not download the {what} {model} from the Hugging Face hub ({exc})"
        ) from exc
    return Fetched(what, where, "downloaded")


def _fetch_adapter(what: str, source: AdapterSource) -> Fetched:
    """The adapter's weight file, and the image encoder beside it (for the image prompt)."""
    local = Path(source.location).expanduser()
    if local.exists():
        return Fetched(what, str(local), "local")
    from huggingface_hub import snapshot_download

    sub = f"{source.subfolder}/" if source.subfolder else ""
    patterns = [f"{sub}{source.weight_name}", f"{sub}image_encoder/*"]
    try:
        where = snapshot_download(source.location, allow_patterns=patterns)
    except Exception as exc:
        raise ModelUnavailable(
            f"could not download the {what} {source.location} from the Hugging Face hub ({exc})"
        ) from exc
    return Fetched(what, where, "downloaded")
