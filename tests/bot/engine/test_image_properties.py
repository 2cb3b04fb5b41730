"""Every upload ends in a decoded picture or a ``LikenessError`` with a message, never another exception.

Generated (hypothesis) rather than listed: every format and mode, truncations, valid headers over
noise, headers claiming huge or extreme sizes, palette and transparency tricks, EXIF orientations,
animations. The same property holds for /generate images, masks and character references, and a
stored copy (what ``check_image``/``check_mask`` return) always loads again the same way.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from PIL import Image

from bot.characters.service import load_image as load_reference_image
from bot.engine.images import MASK_MIN_SIDE, MAX_ASPECT, MAX_PIXELS, MIN_SIDE, load_image, load_mask
from bot.engine.uploads import CheckedUpload, check_image, check_mask
from bot.errors import LikenessError
from cogs.utils.contact_sheet import THUMB, _thumbnail
from tests.bot.engine.image_files import uploads

EXAMPLES = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def outcome(call: Callable[[], object]) -> object | None:
    """The result, or None after a ``LikenessError`` that says something; any other exception escapes."""
    try:
        return call()
    except LikenessError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return None


def assert_sane(image: Image.Image, mode: str, min_side: int) -> None:
    w, h = image.size
    assert image.mode == mode
    assert min(w, h) >= min_side and w * h <= MAX_PIXELS


def assert_clean(stored: CheckedUpload) -> Image.Image:
    """A stored copy: one plain PNG or JPEG frame, no metadata, nothing after it."""
    with Image.open(io.BytesIO(stored.data)) as image:
        assert (image.format, stored.ext) in (("PNG", "png"), ("JPEG", "jpg"))
        assert getattr(image, "n_frames", 1) == 1
        assert not image.getexif() and "icc_profile" not in image.info
        image.load()
        assert image.size == stored.size
        return image.copy()


@EXAMPLES
@given(uploads())
def test_generate_image_decodes_or_is_refused(data: bytes) -> None:
    loaded = outcome(lambda: load_image(data))
    if loaded is not None:
        assert isinstance(loaded, Image.Image)
        assert_sane(loaded, "RGB", MIN_SIDE)
    stored = outcome(lambda: check_image(data, "image"))
    assert (stored is None) <= (loaded is None or max(loaded.size) > MAX_ASPECT * min(loaded.size))
    if isinstance(stored, CheckedUpload):
        assert loaded is not None and stored.size == loaded.size
        assert_clean(stored)
        again = load_image(stored.data)  # what the engine reads when the job runs
        assert again.size == loaded.size


@EXAMPLES
@given(uploads())
def test_mask_decodes_or_is_refused(data: bytes) -> None:
    mask = outcome(lambda: load_mask(data))
    if mask is not None:
        assert isinstance(mask, Image.Image)
        assert_sane(mask, "L", MASK_MIN_SIDE)
    picture_size = mask.size if isinstance(mask, Image.Image) else (96, 96)
    stored = outcome(lambda: check_mask(data, picture_size))
    assert (stored is None) == (mask is None)
    if isinstance(stored, CheckedUpload):
        assert isinstance(mask, Image.Image) and stored.ext == "png"
        assert_clean(stored)
        assert load_mask(stored.data).tobytes() == mask.tobytes()  # the same strokes after storing


@EXAMPLES
@given(uploads())
def test_character_reference_decodes_or_is_refused(data: bytes) -> None:
    stored = outcome(lambda: check_image(data, "reference"))
    analysed = outcome(lambda: load_reference_image(data, what="reference"))  # the face check's decode
    if isinstance(stored, CheckedUpload):
        assert isinstance(analysed, Image.Image) and analysed.size == stored.size
        assert_sane(analysed, "RGB", MIN_SIDE)
        assert_clean(stored)
        assert _thumbnail(stored.data).size == (THUMB, THUMB)  # /character show can draw it
