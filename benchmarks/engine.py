# ruff: noqa: E402  (sys.path is fixed before the imports; see below)
"""Engine benchmark: what ``Engine`` costs over bare diffusers, and what it holds on to.

Prints Markdown tables (stdout, paste into docs) for:

1. overhead per job: ``engine.generate(request)`` vs the same pipeline object called directly with
   the same parameters (target: ratio ≤ 1.05), and what each engine stage costs inside a job;
2. memory after cycling through every mode vs right after loading (target: growth < 5 %), the
   cost of a mode switch, and how many module objects the three pipelines really hold;
3. four candidates as one batch vs four sequential single-candidate jobs.

Load time is excluded everywhere; every timed path runs once untimed first. Run from the
repository root::

    python benchmarks/engine.py [--env-file PATH] [--steps N] [--repeats N] [--size auto|PX]

Without ``--env-file`` it builds the tiny random-weight bundle in a temporary folder, so it runs
offline on a CPU; with one it uses whatever model and device that file configures. On a CPU device
it runs torch on one thread unless ``--threads`` says otherwise: with one thread per core, any other
process on a small machine makes single jobs swing 1-20x and swamps the few-percent effects measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder is sys.path[0]: a sibling named like a stdlib module (a queue.py was
# here once) would shadow it for torch, transformers and diffusers. Import from the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import contextlib
import gc
import io
import logging
import os
import platform
import resource
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # torchvision fallback notes on import

import diffusers
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import bot.engine.engine as engine_module
from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.images import size_for_aspect
from bot.engine.pipelines import Pipelines
from bot.engine.samplers import build_scheduler
from bot.engine.samplers import using as using_scheduler
from bot.errors import InvalidRequest, ModelUnavailable, SettingsInvalid
from bot.jobs import GenerationRequest, GenerationResult
from bot.params import DEFAULT_CFG, DEFAULT_STRENGTH, JobParams, Mode

log = logging.getLogger("benchmarks.engine")

OVERHEAD_TARGET = 1.05
MEMORY_GROWTH_TARGET = 0.05
PROMPT = "a portrait photo of a woman in a red wool coat, soft window light, 85mm"
NEGATIVE = "blurry, low quality"
SEED = 1234
OVERHEAD_MODES = (Mode.TEXT, Mode.IMG2IMG, Mode.INPAINT)
BATCH = 4
SECTIONS = ("memory", "overhead", "batch")
TINY_STEPS = 20  # keeps the default tiny run near two minutes on two CPU cores

Job = Callable[[], object]


# --- set-up -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setup:
    """The loaded engine plus what the report needs to say about it."""

    engine: Engine
    model_label: str
    steps: int
    tiny: bool
    size_source: str  # "native" or "LIKENESS_RESOLUTION"
    source: Path  # an upload at the generation size
    mask: Path  # white box over the middle quarter of ``source``
    after_load: MemoryPoint


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--env-file", type=Path, help="settings file (default: build the tiny bundle)")
    parser.add_argument(
        "--steps",
        type=int,
        help=f"denoising steps (default: {TINY_STEPS} on the tiny bundle, else LIKENESS_DEFAULT_STEPS)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument(
        "--size", default="auto", help="generation side in px (sets LIKENESS_RESOLUTION), or auto = native"
    )
    parser.add_argument("--cycles", type=int, default=3, help="passes through every mode for memory")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections to run ({', '.join(SECTIONS)})"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads; 0 = torch's choice (one per core). Default on a CPU device: 1, "
        "because with one thread per core any other process on the machine makes jobs swing 1-20x",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show engine and library logs")
    args = parser.parse_args(argv)
    if args.size != "auto" and not (args.size.isdigit() and int(args.size) % 8 == 0):
        parser.error("--size must be auto or a multiple of 8 (pixels)")
    args.sections = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := args.sections - set(SECTIONS):
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}: choose from {', '.join(SECTIONS)}")
    if args.repeats < 1 or args.cycles < 1:
        parser.error("--repeats and --cycles must be at least 1")
    return args


def quiet_libraries(verbose: bool) -> None:
    """Keep stderr to our own progress: load bars and deprecation notes are not results."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose:
        return
    logging.getLogger("bot").setLevel(logging.WARNING)  # one "generated …" line per job otherwise
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def gradient_image(side: int) -> Image.Image:
    """A textured colour gradient: something for img2img/inpaint to keep, made in code."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side]
    rgb = np.stack([x / (side - 1), y / (side - 1), (x + y) / (2 * side)], axis=-1) * 200
    rgb += rng.normal(0, 12, size=rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def set_up(args: argparse.Namespace, workdir: Path) -> Setup:
    """Build (if needed) and load the model; read memory right after the load, before any job."""
    env_file, tiny = args.env_file, args.env_file is None
    if tiny:
        from bot.tiny import build_tiny_bundle

        log.info("building the tiny model bundle in %s", workdir)
        env_file = build_tiny_bundle(workdir / "tiny").env_file
    overrides: dict[str, object] = {} if args.size == "auto" else {"resolution": int(args.size)}
    settings = load_settings(env_file, **overrides)
    gc.collect()
    log.info("loading %s", settings.model)
    started = time.perf_counter()
    engine = Engine.load(settings.engine_config)
    log.info("loaded in %.1fs (not part of any measurement)", time.perf_counter() - started)
    page_in_weights(engine)
    after_load = memory_point(engine, "after load")
    if engine.pipes.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    side = engine.native
    source = workdir / "source.png"
    gradient_image(side).save(source)
    mask = Image.new("L", (side, side), 0)
    mask.paste(255, (side // 4, side // 4, 3 * side // 4, 3 * side // 4))
    mask.save(workdir / "mask.png")
    label = "tiny random-weight bundle (SD 1.5 layout)" if tiny else settings.model
    return Setup(
        engine=engine,
        model_label=label,
        steps=args.steps or (TINY_STEPS if tiny else settings.default_steps),
        tiny=tiny,
        size_source="native" if args.size == "auto" else "LIKENESS_RESOLUTION",
        source=source,
        mask=workdir / "mask.png",
        after_load=after_load,
    )


def request_for(setup: Setup, mode: Mode, *, seed: int = SEED, candidates: int = 1) -> GenerationRequest:
    params = JobParams(
        PROMPT,
        negative=NEGATIVE,
        mode=mode,
        cfg=DEFAULT_CFG,
        steps=setup.steps,
        seed=seed,
        candidates=candidates,
    )
    return GenerationRequest(
        params,
        image=None if mode is Mode.TEXT else setup.source,
        mask=setup.mask if mode is Mode.INPAINT else None,
    )


def page_in_weights(engine: Engine) -> None:
    """Read every weight once, so "after load" counts the model as resident.

    safetensors files are memory-mapped: right after ``from_pretrained`` a CPU model's weights are
    mostly not in RSS yet, and the first job would page them in and look like a leak of the model's
    whole size. A GPU copy has no such effect (its weights are in device memory).
    """
    if engine.pipes.device.type != "cpu":
        return
    pipes = (engine.pipes.text, engine.pipes.img2img, engine.pipes.inpaint)
    modules = {id(m): m for pipe in pipes for m in pipe.components.values() if isinstance(m, torch.nn.Module)}
    with torch.no_grad():
        for module in modules.values():
            for tensor in [*module.parameters(), *module.buffers()]:
                tensor.sum()


def modes_available(engine: Engine) -> list[Mode]:
    """Every mode, less image_prompt when the configuration has no IP-Adapter."""
    return [m for m in Mode if m is not Mode.IMAGE_PROMPT or engine.pipes.ip_embed_dim is not None]


# --- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryPoint:
    """Process memory at one moment: RSS split into heap (anon) and mapped files, plus CUDA."""

    label: str
    rss: int
    anon: int | None = None
    file: int | None = None
    cuda: int | None = None
    cuda_peak: int | None = None


def memory_point(engine: Engine, label: str) -> MemoryPoint:
    """Read /proc/self/status (VmRSS, RssAnon, RssFile); ``resource`` peak where /proc is missing."""
    gc.collect()
    fields: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    cuda = engine.pipes.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    return MemoryPoint(
        label,
        fields.get("VmRSS") or peak_rss_bytes(),
        fields.get("RssAnon"),
        fields.get("RssFile"),
        torch.cuda.memory_allocated() if cuda else None,
        torch.cuda.max_memory_allocated() if cuda else None,
    )


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def timed(job: Job) -> tuple[float, Any]:
    """Wall time of one job; collect garbage first so one job does not pay for the last."""
    gc.collect()
    started = time.perf_counter()
    out = job()
    return time.perf_counter() - started, out


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def bare_job(engine: Engine, request: GenerationRequest) -> Job:
    """The same pipeline object and arguments, inputs already prepared: what diffusers alone costs.

    The inputs come from the engine's own ``plan`` (outside the timing), so the pipeline sees exactly
    what ``Engine.generate`` gives it; only the call itself is timed.
    """
    plan = engine.plan(request)
    params = plan.params
    assert params.seed is not None
    seed, count = params.seed, params.candidates

    def call() -> list[Image.Image]:
        generators = [torch.Generator("cpu").manual_seed(seed + k) for k in range(count)]
        assert params.sampler is not None
        scheduler = build_scheduler(engine.pipes.scheduler_config, params.sampler, params.schedule, seed)
        with using_scheduler(plan.pipe, scheduler):  # the job's sampler, as the engine runs it
            return plan.pipe(
                **plan.conditioning,  # the prompt as text, or its weighted embeddings
                num_inference_steps=params.steps,
                guidance_scale=params.cfg,
                num_images_per_prompt=count,
                generator=generators,
                output_type="pil",
                **plan.inputs,
                **plan.adapters,
            ).images

    return call


def png_pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def max_pixel_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> int:
    return max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b, strict=True))


# --- per-stage breakdown ------------------------------------------------------------------------


@dataclass
class StageClock:
    """Wall time per engine stage for the current job, filled by the wrappers in ``stage_clock``."""

    seconds: dict[str, float] = field(default_factory=dict)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return wrapper


# (owner, attribute, stage): the engine's steps as ``Engine.generate`` calls them, outermost first.
def _stage_targets(engine: Engine) -> list[tuple[object, str, str]]:
    pipe_classes = {type(p) for p in (engine.pipes.text, engine.pipes.img2img, engine.pipes.inpaint)}
    return [
        (Engine, "generate", "total"),
        (Engine, "plan", "plan"),
        (engine_module, "resolve", "check"),
        (engine_module, "check_inputs", "check"),
        (Engine, "_prepare_images", "prepare images"),
        (engine_module, "prompt_arguments", "prompt"),
        (Pipelines, "ip_adapter_kwargs", "IP zero embeds"),
        (Engine, "_denoise", "denoise"),
        *((cls, "__call__", "pipeline call") for cls in pipe_classes),
        (engine_module, "composite", "composite"),
        (Engine, "_encode", "encode"),
        (engine_module, "format_parameters", "parameters text"),
        (engine_module, "encode_png", "PNG encode"),
    ]


@contextlib.contextmanager
def stage_clock(engine: Engine) -> Iterator[StageClock]:
    """Wrap the engine's steps in timers for the duration (the engine code itself is untouched)."""
    clock = StageClock()
    restore: list[tuple[object, str, object | None]] = []
    try:
        for owner, name, stage in _stage_targets(engine):
            own = vars(owner).get(name)
            restore.append((owner, name, own))
            setattr(owner, name, clock.wrap(stage, getattr(owner, name)))
        yield clock
    finally:
        for owner, name, own in reversed(restore):
            if own is None:
                delattr(owner, name)
            else:
                setattr(owner, name, own)


def breakdown_table(rows: Sequence[OverheadRow]) -> str:
    """Median milliseconds per engine stage, so a failing ratio names the step that costs."""

    def ms(samples: list[dict[str, float]], pick: Callable[[dict[str, float]], float]) -> str:
        return f"{1000 * median([pick(s) for s in samples]):.2f}"

    def stage(name: str) -> Callable[[dict[str, float]], float]:
        return lambda s: s.get(name, 0.0)

    def other(s: dict[str, float]) -> float:
        return s["total"] - sum(s.get(k, 0.0) for k in ("plan", "denoise", "encode"))

    def plan_rest(s: dict[str, float]) -> float:
        named = ("check", "prepare images", "prompt", "IP zero embeds")
        return s["plan"] - sum(s.get(k, 0.0) for k in named)

    def denoise_rest(s: dict[str, float]) -> float:
        return s["denoise"] - s.get("pipeline call", 0.0) - s.get("composite", 0.0)

    table = markdown(
        [
            "mode",
            "generate ms",
            "pipeline call ms",
            "same call, bare ms",
            "engine's own ms",
            "1. check",
            "2. prepare images",
            "4. prompt",
            "4. IP embeds",
            "plan: rest",
            "5. denoise: rest",
            "↳ composite",
            "7. encode",
            "↳ PNG encode",
            "↳ parameters",
            "other",
        ],
        [
            [
                r.mode.value,
                ms(r.stages, stage("total")),
                ms(r.stages, stage("pipeline call")),
                ms(r.bare_stages, stage("pipeline call")),
                ms(r.stages, own_seconds),
                ms(r.stages, stage("check")),
                ms(r.stages, stage("prepare images")),
                ms(r.stages, stage("prompt")),
                ms(r.stages, stage("IP zero embeds")),
                ms(r.stages, plan_rest),
                ms(r.stages, denoise_rest),
                ms(r.stages, stage("composite")),
                ms(r.stages, stage("encode")),
                ms(r.stages, stage("PNG encode")),
                ms(r.stages, stage("parameters text")),
                ms(r.stages, other),
            ]
            for r in rows
        ],
    )
    notes = (
        "_Medians over the timed engine jobs above, from timers wrapped around the engine's own functions "
        "(the engine code is unchanged). same call, bare = the pipeline call inside the bare jobs; the "
        "engine's call differs only by its per-step callback, so a gap there is that callback or the "
        "machine. engine's own = generate − pipeline call. The numbers are the steps of Engine.generate: "
        "1. check = resolve + check_inputs; 2. prepare images = decode + fit the upload (+ mask, outpaint "
        "canvas); 4. prompt = A1111's syntax parsed, the text tokenised to see that it fits one chunk, and "
        "the weighted embeddings when it needs them; 4. IP embeds = "
        "Pipelines.ip_adapter_kwargs (the bare call is given the same embeddings); plan: rest = face lock "
        "and the plan itself; 5. denoise: rest = generators + argument set-up + safety flags, besides the "
        "pipeline call and the composite onto the original; 7. encode = parameters text + PNG encode; "
        "other = lock, logging, result objects._"
    )
    return table + "\n\n" + notes


# --- 1. overhead --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverheadRow:
    mode: Mode
    engine: list[float]
    bare: list[float]
    stages: list[dict[str, float]]  # one per engine sample
    bare_stages: list[dict[str, float]]  # one per bare sample
    same_pixels: str

    @property
    def ratio(self) -> float:
        return median(self.engine) / median(self.bare)

    @property
    def min_ratio(self) -> float:
        return min(self.engine) / min(self.bare)

    @property
    def own(self) -> float:
        """The engine's own seconds per job, measured inside each job (immune to load between jobs)."""
        return median([own_seconds(s) for s in self.stages])

    @property
    def own_ratio(self) -> float:
        return 1 + self.own / median(self.bare)


def own_seconds(stages: dict[str, float]) -> float:
    return stages["total"] - stages.get("pipeline call", 0.0)


def measure_overhead(setup: Setup, repeats: int) -> list[OverheadRow]:
    """Alternate engine/bare runs (order flipped each repeat) so drift hits both sides alike.

    The stage timers stay on for both sides: a wrapper costs about a microsecond, and it lets the
    engine's own time be read inside each job, where other load on the machine cannot reach it.
    """
    rows = []
    bar = tqdm(total=len(OVERHEAD_MODES) * 2 * (repeats + 1), desc="overhead", unit="job", leave=False)
    with stage_clock(setup.engine) as clock:
        for mode in OVERHEAD_MODES:
            request = request_for(setup, mode)
            bare = bare_job(setup.engine, request)

            def engine_job(request: GenerationRequest = request) -> GenerationResult:
                return setup.engine.generate(request)

            result, reference = engine_job(), bare()
            bar.update(2)
            if mode is Mode.INPAINT:
                same = "n/a (composited)"
            else:
                diff = max_pixel_difference(
                    [png_pixels(c.png) for c in result.candidates], [np.asarray(i) for i in reference]
                )
                same = "yes" if diff == 0 else f"no (max diff {diff})"
            samples: dict[str, list[float]] = {"engine": [], "bare": []}
            stages: dict[str, list[dict[str, float]]] = {"engine": [], "bare": []}
            for i in range(repeats):
                order = (("engine", engine_job), ("bare", bare))
                for name, job in order if i % 2 == 0 else order[::-1]:
                    clock.seconds = {}
                    samples[name].append(timed(job)[0])
                    stages[name].append(clock.seconds)
                    bar.update(1)
            row = OverheadRow(
                mode, samples["engine"], samples["bare"], stages["engine"], stages["bare"], same
            )
            rows.append(row)
            log.info(
                "%s: engine %.3fs, bare %.3fs, engine's own %.1f ms",
                mode.value,
                median(row.engine),
                median(row.bare),
                1000 * row.own,
            )
    bar.close()
    return rows


def overhead_table(setup: Setup, rows: list[OverheadRow]) -> str:
    width, height = size_for_aspect("1:1", setup.engine.native)

    def verdict(ratio: float) -> str:
        return "PASS" if ratio <= OVERHEAD_TARGET else "FAIL"

    def partial(mode: Mode) -> int:  # diffusers runs int(steps × strength) of the schedule
        return int(setup.steps * DEFAULT_STRENGTH[mode])

    table = markdown(
        [
            "mode",
            "size",
            "steps",
            "engine.generate s",
            "bare diffusers s",
            "ratio",
            "ratio of minima",
            "engine's own ms",
            "1 + own / bare",
            "same pixels",
            f"ratio ≤ {OVERHEAD_TARGET}",
            f"own ≤ {OVERHEAD_TARGET}",
        ],
        [
            [
                r.mode.value,
                f"{width}×{height} ({setup.size_source})",
                f"{setup.steps}",
                f"{median(r.engine):.3f}",
                f"{median(r.bare):.3f}",
                f"{r.ratio:.3f}",
                f"{r.min_ratio:.3f}",
                f"{1000 * r.own:.1f}",
                f"{r.own_ratio:.4f}",
                r.same_pixels,
                verdict(r.ratio),
                verdict(r.own_ratio),
            ]
            for r in rows
        ],
    )
    notes = [
        "_engine.generate = request with file paths → validated, upload decoded and fitted, prompt checked, "
        "pipeline called with a per-step callback, (inpaint) composited, PNG-encoded with parameters. "
        "bare diffusers = the same pipeline object called with the same prompt, negative, steps, cfg, size, "
        "strength, seeded CPU generator and zero IP-Adapter embeds, inputs already decoded, returning PIL. "
        "ratio = median / median of whole jobs, the asked-for verdict; on a shared machine it carries the "
        "noise of other load (compare the ratio of minima). engine's own = generate − its pipeline call, "
        "timed inside each job; 1 + own / bare is the overhead ratio without that noise. "
        f"img2img denoises {partial(Mode.IMG2IMG)} of the {setup.steps} steps, inpaint "
        f"{partial(Mode.INPAINT)} (the default strengths {DEFAULT_STRENGTH[Mode.IMG2IMG]:g} and "
        f"{DEFAULT_STRENGTH[Mode.INPAINT]:g})._"
    ]
    if setup.tiny and setup.engine.native <= 64:
        notes.append(
            "_These rows are at the tiny model's native 64 px, where a whole denoise takes about a second "
            "on a CPU, so fixed per-job costs (file decode, PNG encode) weigh far more than on a real "
            "model; rerun with --size 128 (or larger) for a ratio closer to production._"
        )
    return table + "\n\n" + "\n".join(notes)


# --- 2. memory and mode switches -----------------------------------------------------------------


@dataclass
class MemoryReport:
    points: list[MemoryPoint] = field(default_factory=list)
    first: dict[Mode, float] = field(default_factory=dict)
    after_switch: dict[Mode, list[float]] = field(default_factory=dict)
    same_mode: dict[Mode, list[float]] = field(default_factory=dict)
    trimmed: MemoryPoint | None = None


def malloc_trim() -> bool:
    """Hand glibc's free heap back to the OS: tells retained-but-free memory from live memory."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def measure_memory(setup: Setup, cycles: int) -> MemoryReport:
    """A warm-up pass, then ``cycles`` passes that run every mode twice in a row.

    The first job of each pair follows a job of another mode (a switch), the second repeats its
    own mode; pairing them back to back keeps drift in the machine's load out of the difference.
    """
    engine, modes = setup.engine, modes_available(setup.engine)
    report = MemoryReport()
    report.points.append(setup.after_load)
    bar = tqdm(total=len(modes) * (1 + 2 * cycles), desc="memory & mode switches", unit="job", leave=False)
    requests = {mode: request_for(setup, mode) for mode in modes}

    def job(mode: Mode) -> float:
        seconds = timed(lambda: engine.generate(requests[mode]))[0]
        bar.update(1)
        return seconds

    for mode in modes:  # the first job ever in each mode: reported, used in neither median
        report.first[mode] = job(mode)
    report.points.append(memory_point(engine, "after warm-up pass"))
    for cycle in range(1, cycles + 1):
        for mode in modes:
            report.after_switch.setdefault(mode, []).append(job(mode))
            report.same_mode.setdefault(mode, []).append(job(mode))
        report.points.append(memory_point(engine, f"after cycle {cycle}"))
    bar.close()
    if malloc_trim():
        report.trimmed = memory_point(engine, "↳ then malloc_trim(0) (diagnostic)")
    return report


def memory_tables(setup: Setup, report: MemoryReport) -> str:
    base, warm, final = report.points[0], report.points[1], report.points[-1]
    cuda = base.cuda is not None
    headers = ["point", "RSS MB", "vs after load", "vs after warm-up", "heap (anon) MB", "file-backed MB"]
    if cuda:
        headers += ["CUDA allocated MB", "vs after load", "CUDA max allocated MB"]
    rows = []
    for point in [*report.points, *([report.trimmed] if report.trimmed else [])]:
        row = [
            point.label,
            mb(point.rss),
            percent(point.rss, base.rss),
            percent(point.rss, warm.rss),
            mb(point.anon),
            mb(point.file),
        ]
        if cuda:
            row += [mb(point.cuda), percent(point.cuda, base.cuda), mb(point.cuda_peak)]
        rows.append(row)
    growth = final.rss / base.rss - 1
    steady = final.rss / warm.rss - 1
    cycles = len(report.points) - 2

    def verdict(value: float) -> str:
        return "PASS" if value < MEMORY_GROWTH_TARGET else "FAIL"

    summary = (
        f"RSS growth after {cycles} cycle{'' if cycles == 1 else 's'} through "
        f"{', '.join(m.value for m in report.first)}: "
        f"**{100 * growth:+.1f} % vs right after load** "
        f"(target < {100 * MEMORY_GROWTH_TARGET:.0f} %: **{verdict(growth)}**); "
        f"{100 * steady:+.1f} % vs after the warm-up pass, i.e. across the cycles ({verdict(steady)}); "
        f"process peak RSS {mb(peak_rss_bytes())} MB."
    )
    if None not in (base.anon, base.file, final.anon, final.file):
        assert base.anon is not None and base.file is not None
        assert final.anon is not None and final.file is not None
        summary += (
            f" Of the {mb(final.rss - base.rss, sign=True)} MB since load, "
            f"{mb(final.anon - base.anon, sign=True)} MB is heap and {mb(final.file - base.file, sign=True)} "
            "MB file-backed pages (already-mapped library code touched on first use: shared, reclaimable)."
        )
        if report.trimmed is not None and report.trimmed.anon is not None:
            live = report.trimmed.anon - base.anon
            summary += f" After malloc_trim(0) the heap is {mb(live, sign=True)} MB vs after load: " + (
                "the heap growth was freed memory glibc kept for reuse, not live objects."
                if live <= 0.01 * base.anon
                else "that much is live; the rest was freed memory glibc kept for reuse."
            )
    if cuda:
        assert base.cuda is not None and final.cuda is not None
        cuda_growth = final.cuda / base.cuda - 1 if base.cuda else float("nan")
        summary += f" CUDA allocated growth {100 * cuda_growth:+.1f} % ({verdict(cuda_growth)})."
    memory = markdown(headers, rows) + "\n\n" + summary

    switch_rows = []
    for mode, switched in report.after_switch.items():
        same = report.same_mode[mode]
        deltas = [a - b for a, b in zip(switched, same, strict=True)]
        switch_rows.append(
            [
                mode.value,
                f"{report.first[mode]:.3f}",
                f"{median(switched):.3f}",
                f"{median(same):.3f}",
                f"{1000 * median(deltas):+.1f}",
                f"{100 * median(deltas) / median(same):+.1f} %",
                ", ".join(f"{1000 * d:+.0f}" for d in deltas),
            ]
        )
    switches = markdown(
        [
            "mode",
            "first job s",
            "after a switch s",
            "same mode again s",
            "switch cost ms",
            "switch cost %",
            "per-pair ms",
        ],
        switch_rows,
    )
    return (
        memory
        + "\n\n"
        + switches
        + f"\n\n_Each cycle runs every mode twice in a row: the first job follows another mode, the second "
        f"repeats it. switch cost = median over the {cycles} pairs of (after a switch − same mode again); "
        "≈ 0 is expected, because from_pipe shares the weights. first job = the very first job in that mode "
        "after loading (one-time warm-up), used in neither median._\n\n" + sharing_line(setup.engine)
    )


def sharing_line(engine: Engine) -> str:
    """Count module references vs distinct objects across the three pipelines (proves from_pipe sharing)."""
    pipes = (engine.pipes.text, engine.pipes.img2img, engine.pipes.inpaint)
    references = [
        (name, m) for pipe in pipes for name, m in pipe.components.items() if isinstance(m, torch.nn.Module)
    ]
    distinct = {id(m): name for name, m in references}
    tensors = {
        id(t): t.numel() * t.element_size() for _, m in references for t in [*m.parameters(), *m.buffers()]
    }
    if_copied = sum(
        t.numel() * t.element_size() for _, m in references for t in [*m.parameters(), *m.buffers()]
    )
    return (
        f"Sharing: the 3 pipelines hold {len(references)} module references but only **{len(distinct)} "
        f"distinct module objects** ({', '.join(sorted(distinct.values()))}); weights in memory "
        f"{sum(tensors.values()) / 2**20:.1f} MB, vs {if_copied / 2**20:.1f} MB if each pipeline had "
        "its own copy."
    )


def percent(value: int | None, base: int | None) -> str:
    return f"{100 * (value / base - 1):+.1f} %" if value is not None and base else "—"


def mb(value: int | None, *, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value / 2**20:+.1f}" if sign else f"{value / 2**20:.1f}"


# --- 3. batch vs sequential -----------------------------------------------------------------------


def measure_batch(setup: Setup, repeats: int) -> str:
    """One job with 4 candidates vs 4 single-candidate jobs with seeds s..s+3 (same images expected)."""
    engine = setup.engine
    batch_request = request_for(setup, Mode.TEXT, candidates=BATCH)
    singles = [request_for(setup, Mode.TEXT, seed=SEED + k) for k in range(BATCH)]

    def batch() -> GenerationResult:
        return engine.generate(batch_request)

    def sequential() -> list[GenerationResult]:
        return [engine.generate(r) for r in singles]

    bar = tqdm(total=2 * (repeats + 1), desc="batch vs sequential", unit="run", leave=False)
    batched, one_by_one = batch(), sequential()
    bar.update(2)
    diff = max_pixel_difference(
        [png_pixels(c.png) for c in batched.candidates],
        [png_pixels(r.candidates[0].png) for r in one_by_one],
    )
    samples: dict[str, list[float]] = {"batch": [], "sequential": []}
    for i in range(repeats):
        order = (("batch", batch), ("sequential", sequential))
        for name, job in order if i % 2 == 0 else order[::-1]:
            samples[name].append(timed(job)[0])
            bar.update(1)
    bar.close()
    b, s = median(samples["batch"]), median(samples["sequential"])
    width, height = size_for_aspect("1:1", engine.native)
    table = markdown(
        [
            "mode",
            "size",
            "steps",
            "1 job × 4 candidates s",
            "4 jobs × 1 candidate s",
            "batch / sequential",
            "per image s: batch / sequential",
            "same images",
        ],
        [
            [
                "text",
                f"{width}×{height}",
                f"{setup.steps}",
                f"{b:.3f}",
                f"{s:.3f}",
                f"{b / s:.3f}",
                f"{b / BATCH:.3f} / {s / BATCH:.3f}",
                "yes" if diff == 0 else f"max pixel diff {diff}",
            ]
        ],
    )
    return table + (
        "\n\n_Seeds s..s+3 in both: candidate k of the batch uses its own CPU generator seeded s+k, so it "
        "should match the single job with seed s+k (batched kernels may differ by float rounding)._"
    )


# --- output ---------------------------------------------------------------------------------------


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A padded Markdown table: readable in a terminal, renders in docs."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> str:
    with contextlib.suppress(OSError, AttributeError):
        return f"{os.getloadavg()[0]:.2f}"
    return "?"


def machine_line(setup: Setup, args: argparse.Namespace, load_before: str) -> str:
    """One line naming what produced the numbers; the load average says how busy the machine was."""
    pipes = setup.engine.pipes
    if pipes.device.type == "cuda":
        device = f"CUDA {torch.cuda.get_device_name(pipes.device)} (CPU {cpu_name()})"
    else:
        threads = torch.get_num_threads()
        device = (
            f"{pipes.device.type} {cpu_name()}, {os.cpu_count()} cores, "
            f"{threads} torch thread{'' if threads == 1 else 's'}"
        )
    width, height = size_for_aspect("1:1", setup.engine.native)
    dtype = str(pipes.dtype).removeprefix("torch.")
    return (
        f"Machine: {device}; Python {platform.python_version()}, torch {torch.__version__}, "
        f"diffusers {diffusers.__version__}; model {setup.model_label}, {dtype}, sampler {pipes.sampler}, "
        f"IP-Adapter {'on' if pipes.ip_embed_dim else 'off'}; size {width}×{height} ({setup.size_source}); "
        f"{setup.steps} steps, cfg {DEFAULT_CFG:g}; median of {args.repeats} runs after one warm-up, "
        f"{args.cycles} mode cycles; load time excluded; 1-min load average {load_before} before, "
        f"{load_average()} after."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_libraries(args.verbose)
    started, load_before = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory(prefix="likeness-bench-") as tmp:
        try:
            setup = set_up(args, Path(tmp))
        except (ModelUnavailable, SettingsInvalid) as exc:
            log.error("%s", exc)
            return 2
        if args.threads is None and setup.engine.pipes.device.type == "cpu":
            args.threads = 1
        if args.threads:
            torch.set_num_threads(args.threads)
        sections: dict[str, str] = {}
        try:
            # Memory first: its baseline is "right after load", before any other job has run.
            if "memory" in args.sections:
                report = measure_memory(setup, args.cycles)
                sections["memory"] = "### Memory after cycling through every mode\n\n" + memory_tables(
                    setup, report
                )
            if "overhead" in args.sections:
                rows = measure_overhead(setup, args.repeats)
                sections["overhead"] = (
                    "### Engine overhead per job\n\n"
                    + overhead_table(setup, rows)
                    + "\n\n### Where the engine's time goes (per job, milliseconds)\n\n"
                    + breakdown_table(rows)
                )
            if "batch" in args.sections:
                sections["batch"] = "### 4 candidates: one batch vs 4 sequential jobs\n\n" + measure_batch(
                    setup, args.repeats
                )
        except InvalidRequest as exc:
            log.error("the benchmark's request was rejected: %s (try more --steps)", exc)
            return 2
    print("\n\n".join(sections[name] for name in ("overhead", "memory", "batch") if name in sections))
    print()
    print(machine_line(setup, args, load_before))
    log.info("benchmark finished in %.0fs", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
