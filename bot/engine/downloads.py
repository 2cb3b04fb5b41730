"""Getting the models onto the machine: the insightface face pack on first start, and ``fetch-models``
ahead of time for everything the settings name.

The face pack is ``<LIKENESS_FACE_PACK_URL><pack>.zip``, streamed to a temporary file beside its
final folder and hashed on the way. A zip whose bytes are known (``FACE_PACK_SHA256``, or the
operator's ``LIKENESS_FACE_PACK_SHA256``) must match before it is opened: a mirror, a proxy or a
re-upload that serves other bytes is refused with both hashes, and nothing is unpacked. It is then
unpacked there and moved into place in one rename, so a download that breaks leaves nothing half
there. ``LIKENESS_OFFLINE=1`` turns every download off; what is missing then says where to put it.
Diffusion models, adapters and the speeds' acceleration LoRAs come from the Hugging Face hub into
its cache (``huggingface_hub``'s own progress bars and its own checks of what it fetched).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.choices import Structure
from bot.engine.config import AdapterSource, EngineConfig
from bot.engine.faces.factory import FaceConfig
from bot.engine.family import CONTROLNETS, Family
from bot.engine.speed import Accelerator
from bot.errors import ModelUnavailable

log = logging.getLogger(__name__)

DEFAULT_FACE_PACK_URL = "https://github.com/deepinsight/insightface/releases/download/model-zoo/"
# The sha256 of each insightface release zip whose bytes are known, by the URL it is fetched from
# (the same files are served under the release's older tag, v0.7). Each is the value that several
# unrelated public download scripts and model lists pin, for either tag (Visionatrix's
# visionatrix/basic_node_list.py among them, over Hugging Face mirrors of the same zips); sizes:
# buffalo_l 288,621,354 bytes, antelopev2 360,662,982.
_KNOWN_PACKS = {
    "buffalo_l": "80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f",
    "antelopev2": "8e182f14fc6e80b3bfa375b33eb6cff7ee05d8ef7633e738d1c89021dcf0c5c5",
}
_RELEASES = (DEFAULT_FACE_PACK_URL, "https://github.com/deepinsight/insightface/releases/download/v0.7/")
FACE_PACK_SHA256: dict[str, str] = {
    f"{release}{pack}.zip": digest for release in _RELEASES for pack, digest in _KNOWN_PACKS.items()
}
CHUNK = 1 << 20
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


def ensure_face_pack(
    config: FaceConfig, url: str, offline: bool = False, sha256: str | None = None
) -> Path | None:
    """The insightface pack in ``config.model_dir``, downloaded when missing (None: nothing to do, or
    another backend). Offline, a missing pack is left for the analyzer to report."""
    folder = config.model_dir
    if config.backend != "insightface" or has_face_pack(folder) or offline:
        return None
    return download_face_pack(folder, url, sha256)


def face_pack_zip_url(url: str, name: str) -> str:
    return f"{url if url.endswith('/') else url + '/'}{name}.zip"


def download_face_pack(folder: Path, url: str, sha256: str | None = None) -> Path:
    """``<url><name>.zip`` unpacked into ``folder`` (its name is the pack's), all or nothing.

    The zip is checked against ``sha256`` (the operator's pin) or else ``FACE_PACK_SHA256`` before
    it is opened; a zip with no pin is used as it is, and its hash logged so it can be pinned."""
    name = folder.name
    zip_url = face_pack_zip_url(url, name)
    expected = (sha256 or FACE_PACK_SHA256.get(zip_url) or "").lower() or None
    licence = PACK_LICENCES.get(name, "see the pack's own terms")
    log.warning("downloading the insightface face pack %s from %s (licence: %s)", name, url, licence)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.download-", dir=folder.parent))
    try:
        archive = staging / f"{name}.zip"
        digest = _stream_to(zip_url, archive)
        if expected is None:
            log.warning(
                "face pack %s.zip from %s is not checked: no sha256 is pinned for it; its sha256 is %s "
                "(set LIKENESS_FACE_PACK_SHA256 to pin it)",
                name,
                zip_url,
                digest,
            )
        elif digest != expected:
            raise ModelUnavailable(
                f"the face pack {name}.zip from {zip_url} is not the file pinned for it (sha256 {digest}, "
                f"expected {expected}); nothing was unpacked. Download it again, check "
                "LIKENESS_FACE_PACK_URL and LIKENESS_FACE_PACK_SHA256, or unzip a pack you trust into "
                f"{folder} by hand"
            )
        else:
            log.info("face pack %s.zip matches its pinned sha256 %s", name, digest)
        unpacked = staging / name
        with zipfile.ZipFile(archive) as pack:
            pack.extractall(unpacked)  # extractall keeps every member inside ``unpacked``
        archive.unlink()
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


def _stream_to(url: str, path: Path) -> str:
    """Download ``url`` into ``path`` (following redirects: GitHub's releases redirect to their
    storage), with a progress bar on stderr; returns the bytes' sha256, hashed as they arrive."""
    import httpx
    from tqdm import tqdm

    digest = hashlib.sha256()
    with httpx.stream("GET", url, follow_redirects=True, timeout=httpx.Timeout(60.0)) as response:
        if response.status_code != 200:  # httpx's own message runs over several lines
            raise OSError(f"{response.url} answered HTTP {response.status_code} {response.reason_phrase}")
        total = int(response.headers.get("content-length") or 0) or None
        progress = tqdm(total=total, unit="B", unit_scale=True, desc=path.name, file=sys.stderr, disable=None)
        with path.open("wb") as out, progress as bar:
            for chunk in response.iter_bytes(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


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
    engine: EngineConfig,
    faces: FaceConfig,
    face_pack_url: str,
    report: Callable[[Fetched], None],
    *,
    face_pack_sha256: str | None = None,
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
    if engine.distilled is None:  # a distilled checkpoint takes no acceleration LoRA
        speeds: dict[Accelerator, list[str]] = {}
        for speed, accelerator in engine.accelerators.get(family, {}).items():
            speeds.setdefault(accelerator, []).append(speed)
        for accelerator, named in speeds.items():
            note(_fetch_accelerator(f"acceleration LoRA ({' and '.join(named)})", accelerator))
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
    if engine.nsfw_model is not None:
        note(_fetch_model("NSFW classifier", engine.nsfw_model))
    if engine.upscaler is not None:
        note(_fetch_upscaler(engine.upscaler))
    if faces.backend == "insightface":
        if has_face_pack(faces.model_dir):
            note(Fetched("face pack", str(faces.model_dir), "already here"))
        else:
            pack = download_face_pack(faces.model_dir, face_pack_url, face_pack_sha256)
            note(Fetched("face pack", str(pack), "downloaded"))
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


def _fetch_upscaler(source: str) -> Fetched:
    """The super-resolution model's one file (``org/repo/file.pth``), or a local file as it is."""
    from bot.engine.upscaler import locate

    local = Path(source).expanduser()
    if local.exists():
        return Fetched("upscaler", str(local), "local")
    return Fetched("upscaler", str(locate(source, offline=False)), "downloaded")
def _fetch_accelerator(what: str, accelerator: Accelerator) -> Fetched:
    """One speed's LoRA file into the hub's cache (a local file or folder is left as it is)."""
    local = Path(accelerator.location).expanduser()
    if local.exists():
        return Fetched(what, str(local), "local")
    from huggingface_hub import hf_hub_download

    try:
        where = hf_hub_download(
            accelerator.location, accelerator.weight_name or "pytorch_lora_weights.safetensors"
        )
    except Exception as exc:
        raise ModelUnavailable(
            f"could not download the {what} {accelerator.location} from the Hugging Face hub ({exc})"
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
