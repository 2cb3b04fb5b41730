"""Tiny random-weight model bundle, built offline and loaded through the real loaders.

Lets tests and offline machines exercise the genuine diffusers / insightface paths (SD 1.5 layout,
IP-Adapter, IP-Adapter FaceID, an insightface face pack) without downloading any model. It is the
``tiny-models`` command and the test fixture, not part of the engine: nothing at run time imports it.
"""

from bot.tiny.bundle import TinyBundle, build_tiny_bundle
from bot.tiny.face_pack import FACE_MARKER_RGB, draw_face_marker

__all__ = ["FACE_MARKER_RGB", "TinyBundle", "build_tiny_bundle", "draw_face_marker"]
