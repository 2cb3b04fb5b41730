"""Synthetic insightface face pack: an SCRFD-layout detector and an ArcFace-layout recognizer.

Real face packs cannot be downloaded here (and buffalo_l/antelopev2 are non-commercial), so tests use
two hand-built ONNX graphs that insightface's `FaceAnalysis` routes and decodes exactly like the real
ones. A "face" is a solid square of `FACE_MARKER_RGB`-like colour; `draw_face_marker` paints one with
a per-person pattern so the recognizer tells people apart while the detector keeps firing.

Detector contract (on the 128 px detector input, i.e. after insightface letterboxes the image):
a marker square with sides between `FACE_MIN_SIDE` and `FACE_MAX_SIDE` px yields one face whose box is
the square and whose 5 keypoints sit at ArcFace template positions inside it. Anything else, including
natural photos, noise and grey images, yields no face.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

#: Colour of a synthetic face. Saturated magenta: it practically never covers a solid area in photos.
FACE_MARKER_RGB: tuple[int, int, int] = (255, 0, 255)
#: A pixel counts as marker when red and blue are at least this value…
MARKER_MIN_RED_BLUE = 180
#: …and green is at most this value.
MARKER_MAX_GREEN = 80
#: Pattern colours stay well inside the marker range, so resizing/blending never breaks detection.
PATTERN_RED_BLUE_RANGE = (215, 255)
PATTERN_GREEN_RANGE = (0, 45)
#: Cells per side of the identity pattern drawn inside a marker.
PATTERN_GRID = 4

#: Square, static detector input; pass the same value as FaceAnalysis det_size.
DET_INPUT_SIZE = 128
#: Marker side limits (in detector-input pixels) for which the detector fires.
FACE_MIN_SIDE = 16
FACE_MAX_SIDE = 96
#: Score given to every anchor inside a valid marker (insightface's default threshold is 0.5).
FACE_SCORE = 0.9
#: ArcFace recognizer input and embedding sizes.
REC_INPUT_SIZE = 112
EMBED_DIM = 512

#: File names: FaceAnalysis loads `*.onnx` sorted, the first model per task wins.
DETECTOR_FILE = "det_tiny.onnx"
RECOGNIZER_FILE = "rec_tiny.onnx"

_STRIDES = (8, 16, 32)
_NUM_ANCHORS = 2
_OPSET = 17
_IR_VERSION = 8
#: ArcFace template (insightface `arcface_dst`) as fractions of the 112 px crop: eyes, nose, mouth.
KEYPOINT_FRACTIONS: tuple[tuple[float, float], ...] = tuple(
    (x / 112.0, y / 112.0)
    for x, y in (
        (38.2946, 51.6963),
        (73.5318, 51.5014),
        (56.0252, 71.7366),
        (41.5493, 92.3655),
        (70.7299, 92.2041),
    )
)
# SCRFD normalises pixels as (p - 127.5) / 128 in RGB order.
_DET_MEAN = 127.5
_DET_STD = 128.0
_FAR = -1.0e4


def _const(name: str, value: np.ndarray | float | Sequence[float], dtype: type = np.float32) -> TensorProto:
    """Typed initializer; numpy 2 promotes silently, and ORT rejects float64 where float32 is expected."""
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name=name)


def _finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="likeness-tiny",
    )
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def _keypoint_matrix(stride: int) -> np.ndarray:
    """Map per-anchor [score, l, t, r, b] (pixels) to SCRFD's [score, bbox/stride, kps/stride] row.

    A keypoint at fraction (fx, fy) of the box lies at x0 + fx·w = cx + (fx - 1)·l + fx·r, so its offset
    from the anchor centre is linear in the four edge distances.
    """
    matrix = np.zeros((5, 15), dtype=np.float32)
    matrix[0, 0] = 1.0
    for edge in range(4):
        matrix[1 + edge, 1 + edge] = 1.0 / stride
    for index, (fx, fy) in enumerate(KEYPOINT_FRACTIONS):
        col = 5 + 2 * index
        matrix[1, col] = (fx - 1.0) / stride
        matrix[3, col] = fx / stride
        matrix[2, col + 1] = (fy - 1.0) / stride
        matrix[4, col + 1] = fy / stride
    return matrix


def build_detector_model(size: int = DET_INPUT_SIZE) -> onnx.ModelProto:
    """SCRFD-layout detector (9 outputs, strides 8/16/32, 2 anchors, keypoints) for marker squares.

    For every pixel it finds the nearest non-marker pixel in each direction with one-sided max-pools
    over pixel positions; an anchor inside a marker run therefore predicts the run's exact edges, so all
    anchors of one square agree on one box and insightface's NMS keeps exactly one face.
    """
    n = size
    inits: list[TensorProto] = [
        _const("split_sizes", [1, 1, 1], np.int64),
        _const("min_rb", (MARKER_MIN_RED_BLUE - _DET_MEAN) / _DET_STD),
        _const("max_g", (MARKER_MAX_GREEN - _DET_MEAN) / _DET_STD),
        _const("far", _FAR),
        _const("pos_x", np.arange(n).reshape(1, 1, 1, n)),
        _const("neg_pos_x", -np.arange(n).reshape(1, 1, 1, n)),
        _const("pos_y", np.arange(n).reshape(1, 1, n, 1)),
        _const("neg_pos_y", -np.arange(n).reshape(1, 1, n, 1)),
        _const("pos_x_m1", np.arange(n).reshape(1, 1, 1, n) - 1.0),
        _const("pos_y_m1", np.arange(n).reshape(1, 1, n, 1) - 1.0),
        _const("pad_left", [0, 0, 0, n, 0, 0, 0, 0], np.int64),
        _const("pad_right", [0, 0, 0, 0, 0, 0, 0, n], np.int64),
        _const("pad_top", [0, 0, n, 0, 0, 0, 0, 0], np.int64),
        _const("pad_bottom", [0, 0, 0, 0, 0, 0, n, 0], np.int64),
        _const("before_value", -1.0),
        _const("after_value", float(-n)),
        _const("min_side", float(FACE_MIN_SIDE)),
        _const("max_side", float(FACE_MAX_SIDE)),
        _const("face_score", FACE_SCORE),
        _const("slice_starts", [0, 0], np.int64),
        _const("slice_ends", [n, n], np.int64),
        _const("slice_axes", [2, 3], np.int64),
        _const("col_axis", [1], np.int64),
        _const("c0", [0], np.int64),
        _const("c1", [1], np.int64),
        _const("c5", [5], np.int64),
        _const("c15", [15], np.int64),
    ]
    nodes = [
        helper.make_node("Split", ["input.1", "split_sizes"], ["red", "green", "blue"], axis=1),
        helper.make_node("Greater", ["red", "min_rb"], ["red_ok"]),
        helper.make_node("Greater", ["blue", "min_rb"], ["blue_ok"]),
        helper.make_node("Less", ["green", "max_g"], ["green_ok"]),
        helper.make_node("And", ["red_ok", "blue_ok"], ["rb_ok"]),
        helper.make_node("And", ["rb_ok", "green_ok"], ["marker"]),
    ]

    def nearest_edge(tag: str, positions: str, pads: str, pad_value: str, kernel: list[int]) -> str:
        # Non-marker pixels carry their (signed) position, marker pixels a very low value; the
        # one-sided max-pool then yields the closest non-marker position (the border counts as one).
        nodes.extend(
            [
                helper.make_node("Where", ["marker", "far", positions], [f"{tag}_pos"]),
                helper.make_node("Pad", [f"{tag}_pos", pads, pad_value], [f"{tag}_pad"]),
                helper.make_node(
                    "MaxPool", [f"{tag}_pad"], [f"{tag}_edge"], kernel_shape=kernel, strides=[1, 1]
                ),
            ]
        )
        return f"{tag}_edge"

    left = nearest_edge("left", "pos_x", "pad_left", "before_value", [1, n + 1])
    right = nearest_edge("right", "neg_pos_x", "pad_right", "after_value", [1, n + 1])
    top = nearest_edge("top", "pos_y", "pad_top", "before_value", [n + 1, 1])
    bottom = nearest_edge("bottom", "neg_pos_y", "pad_bottom", "after_value", [n + 1, 1])
    nodes.extend(
        [
            # Distances from the pixel to the marker run's edges (box = [x - l, y - t, x + r, y + b]).
            helper.make_node("Sub", ["pos_x_m1", left], ["dist_l"]),
            helper.make_node("Add", [right, "pos_x"], ["neg_dist_r"]),
            helper.make_node("Neg", ["neg_dist_r"], ["dist_r"]),
            helper.make_node("Sub", ["pos_y_m1", top], ["dist_t"]),
            helper.make_node("Add", [bottom, "pos_y"], ["neg_dist_b"]),
            helper.make_node("Neg", ["neg_dist_b"], ["dist_b"]),
            helper.make_node("Add", ["dist_l", "dist_r"], ["width"]),
            helper.make_node("Add", ["dist_t", "dist_b"], ["height"]),
            helper.make_node("GreaterOrEqual", ["width", "min_side"], ["w_min"]),
            helper.make_node("LessOrEqual", ["width", "max_side"], ["w_max"]),
            helper.make_node("GreaterOrEqual", ["height", "min_side"], ["h_min"]),
            helper.make_node("LessOrEqual", ["height", "max_side"], ["h_max"]),
            helper.make_node("And", ["w_min", "w_max"], ["w_ok"]),
            helper.make_node("And", ["h_min", "h_max"], ["h_ok"]),
            helper.make_node("And", ["w_ok", "h_ok"], ["size_ok"]),
            helper.make_node("And", ["size_ok", "marker"], ["fires"]),
            helper.make_node("Cast", ["fires"], ["fires_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["fires_f", "face_score"], ["score_map"]),
            helper.make_node(
                "Concat", ["score_map", "dist_l", "dist_t", "dist_r", "dist_b"], ["features"], axis=1
            ),
        ]
    )
    outputs: dict[str, list[onnx.ValueInfoProto]] = {"score": [], "bbox": [], "kps": []}
    for stride in _STRIDES:
        cells = (n // stride) ** 2
        s = str(stride)
        inits.extend(
            [
                _const(f"steps_{s}", [stride, stride], np.int64),
                _const(f"matrix_{s}", _keypoint_matrix(stride)),
                _const(f"shape_cells_{s}", [cells, 1, 5], np.int64),
                _const(f"shape_anchors_{s}", [cells * _NUM_ANCHORS, 15], np.int64),
            ]
        )
        nodes.extend(
            [
                # Anchor centres are (j·stride, i·stride): sample those pixels, row-major.
                helper.make_node(
                    "Slice",
                    ["features", "slice_starts", "slice_ends", "slice_axes", f"steps_{s}"],
                    [f"grid_{s}"],
                ),
                helper.make_node("Transpose", [f"grid_{s}"], [f"hwc_{s}"], perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [f"hwc_{s}", f"shape_cells_{s}"], [f"cells_{s}"]),
                helper.make_node("MatMul", [f"cells_{s}", f"matrix_{s}"], [f"rows_{s}"]),
                # Both anchors of a cell predict the same thing.
                helper.make_node("Concat", [f"rows_{s}"] * _NUM_ANCHORS, [f"pairs_{s}"], axis=1),
                helper.make_node("Reshape", [f"pairs_{s}", f"shape_anchors_{s}"], [f"anchors_{s}"]),
                helper.make_node("Slice", [f"anchors_{s}", "c0", "c1", "col_axis"], [f"score_{s}"]),
                helper.make_node("Slice", [f"anchors_{s}", "c1", "c5", "col_axis"], [f"bbox_{s}"]),
                helper.make_node("Slice", [f"anchors_{s}", "c5", "c15", "col_axis"], [f"kps_{s}"]),
            ]
        )
        anchors = cells * _NUM_ANCHORS
        for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
            outputs[kind].append(
                helper.make_tensor_value_info(f"{kind}_{s}", TensorProto.FLOAT, [anchors, width])
            )
    graph = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, n, n])],
        outputs["score"] + outputs["bbox"] + outputs["kps"],
        initializer=inits,
    )
    return _finish(graph)


def build_recognizer_model(seed: int = 0) -> onnx.ModelProto:
    """ArcFace-layout recognizer: [N,3,112,112] → [N,512], deterministic and content-dependent.

    Random strided conv + tanh keeps it cheap; pooling to a 7×7 grid and removing the per-image mean
    keeps the *layout* of the crop (the identity pattern) in the embedding instead of its average colour.
    """
    rng = np.random.default_rng(seed)
    channels, kernel, grid = 16, 8, 7
    conv_w = rng.normal(0.0, 2.0 / np.sqrt(3 * kernel * kernel), (channels, 3, kernel, kernel))
    conv_b = rng.normal(0.0, 0.1, (channels,))
    features = channels * grid * grid
    proj_w = rng.normal(0.0, 1.0 / np.sqrt(features), (features, EMBED_DIM))
    inits = [
        _const("conv_w", conv_w),
        _const("conv_b", conv_b),
        _const("proj_w", proj_w),
    ]
    # Node names must not start with "Sub"/"Mul": insightface would then assume an mxnet export with
    # built-in normalisation and skip its (x - 127.5) / 127.5 preprocessing.
    nodes = [
        helper.make_node(
            "Conv",
            ["input.1", "conv_w", "conv_b"],
            ["conv"],
            name="conv",
            kernel_shape=[kernel, kernel],
            strides=[kernel, kernel],
        ),
        helper.make_node("Tanh", ["conv"], ["act"], name="act"),
        helper.make_node(
            "AveragePool", ["act"], ["pooled"], name="pool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("ReduceMean", ["pooled"], ["mean"], name="mean", axes=[2, 3], keepdims=1),
        helper.make_node("Sub", ["pooled", "mean"], ["centred"], name="centre"),
        helper.make_node("Flatten", ["centred"], ["flat"], name="flatten", axis=1),
        helper.make_node("MatMul", ["flat", "proj_w"], ["embedding"], name="project"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_arcface",
        [
            helper.make_tensor_value_info(
                "input.1", TensorProto.FLOAT, ["N", 3, REC_INPUT_SIZE, REC_INPUT_SIZE]
            )
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBED_DIM])],
        initializer=inits,
    )
    return _finish(graph)


def save_face_pack(out_dir: Path, seed: int = 0) -> Path:
    """Write the detector and recognizer into `out_dir` (a FaceAnalysis model folder); return it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx.save_model(build_detector_model(), str(out_dir / DETECTOR_FILE))
    onnx.save_model(build_recognizer_model(seed), str(out_dir / RECOGNIZER_FILE))
    logger.debug("saved tiny face pack to %s", out_dir)
    return out_dir


def draw_face_marker(image: Image.Image, box: Sequence[int], pattern_seed: int = 0) -> Image.Image:
    """Paint a synthetic face (marker square with a per-person pattern) into `image`, in place.

    `box` is (x0, y0, x1, y1) in image pixels, x1/y1 exclusive; keep it square. The same
    `pattern_seed` means the same person; different seeds give clearly different embeddings.
    Size it so the square is `FACE_MIN_SIDE`..`FACE_MAX_SIDE` px once the image is scaled so its
    longer side is `DET_INPUT_SIZE`. Returns `image` for chaining.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty face box {box!r}")
    rng = np.random.default_rng(pattern_seed)
    draw = ImageDraw.Draw(image)
    xs = np.linspace(x0, x1, PATTERN_GRID + 1).round().astype(int)
    ys = np.linspace(y0, y1, PATTERN_GRID + 1).round().astype(int)
    fill_mode = image.mode if image.mode in ("RGB", "RGBA") else None
    if fill_mode is None:
        raise ValueError(f"draw_face_marker needs an RGB(A) image, got mode {image.mode!r}")
    for row in range(PATTERN_GRID):
        for col in range(PATTERN_GRID):
            red, blue = (int(v) for v in rng.integers(*PATTERN_RED_BLUE_RANGE, size=2, endpoint=True))
            green = int(rng.integers(*PATTERN_GREEN_RANGE, endpoint=True))
            colour = (red, green, blue) if fill_mode == "RGB" else (red, green, blue, 255)
            draw.rectangle(
                (int(xs[col]), int(ys[row]), int(xs[col + 1]) - 1, int(ys[row + 1]) - 1), fill=colour
            )
    return image
