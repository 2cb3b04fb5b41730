#!/usr/bin/env bash
# The GPU benchmark in one command: raw diffusers against Likeness in each speed mode (quality, fast,
# turbo), plain, with the step cache, with compile, and with both, for SD 1.5 at 512 px and SDXL at
# 1024 px; it/s, seconds per image and peak VRAM, as one Markdown table.
#
#   benchmarks/gpu.sh              on a CUDA machine with the real weights (run fetch-models first)
#   benchmarks/gpu.sh --dry-run    on the CPU with the tiny bundle: the same rows, end to end
#
# Each row is one process, benchmarks/speed.py --json, so a compile or a cache never carries over to
# the next. "Raw diffusers" is the same pipeline object called directly with the inputs the engine
# prepared (speed.py's bare call), so the two columns differ by the engine alone. A configuration this
# build has no setting for (LIKENESS_COMPILE, LIKENESS_STEP_CACHE) is reported as such, never run
# unlabelled, and a setting the build refuses is reported with its one line.
#
# Environment:
#   GPU_BENCH_SD15_ENV, GPU_BENCH_SDXL_ENV  settings files of the two models (default: the public
#       SD 1.5 and SDXL base weights from the Hugging Face cache, offline, on cuda)
#   GPU_BENCH_BUDGET       seconds for the whole run (default 480: 8 minutes); a row that would start
#       past it, or run past it, is reported as skipped, so the run ends within the budget
#   GPU_BENCH_STEP_CACHE   the step cache level the cached rows use (default medium)
#   GPU_BENCH_COMPILE      LIKENESS_COMPILE's value for the compiled rows (default 1)
#   PYTHON                 the interpreter (default: python)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-python}"
dry_run=0
case "${1:-}" in
    --dry-run) dry_run=1 ;;
    "") ;;
    *) echo "usage: benchmarks/gpu.sh [--dry-run]" >&2; exit 2 ;;
esac
budget="${GPU_BENCH_BUDGET:-480}"
work="$(mktemp -d "${TMPDIR:-/tmp}/likeness-gpu-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
: > "$results"

if [[ $dry_run == 0 ]]; then
    if ! "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "benchmarks/gpu.sh: no CUDA device here; run it on a GPU machine, or use --dry-run" >&2
        exit 2
    fi
    sd15_env="${GPU_BENCH_SD15_ENV:-}"
    sdxl_env="${GPU_BENCH_SDXL_ENV:-}"
    for family in sd15 sdxl; do
        var="${family}_env"
        if [[ -z ${!var} ]]; then
            model="stable-diffusion-v1-5/stable-diffusion-v1-5"
            [[ $family == sdxl ]] && model="stabilityai/stable-diffusion-xl-base-1.0"
            printf '%s\n' "LIKENESS_MODEL=$model" "LIKENESS_DEVICE=cuda" "LIKENESS_OFFLINE=1" \
                "LIKENESS_IP_ADAPTER=none" "LIKENESS_FACEID_ADAPTER=none" "LIKENESS_CONTROLNET_CANNY=none" \
                "LIKENESS_CONTROLNET_DEPTH=none" "LIKENESS_CAPTION_MODEL=none" "LIKENESS_NSFW_MODEL=none" \
                > "$work/$family.env"
            printf -v "$var" '%s' "$work/$family.env"
        fi
    done
    common=()
else
    sd15_env="${GPU_BENCH_SD15_ENV:-}"
    sdxl_env="${GPU_BENCH_SDXL_ENV:-}"
    if [[ -z $sd15_env ]]; then
        (cd "$root" && "$python" -m bot tiny-models "$work/tiny-sd15" >/dev/null 2>&1)
        sd15_env="$work/tiny-sd15/tiny.env"
    fi
    if [[ -z $sdxl_env ]]; then
        (cd "$root" && "$python" -m bot tiny-models "$work/tiny-sdxl" --family sdxl >/dev/null 2>&1)
        sdxl_env="$work/tiny-sdxl/tiny.env"
    fi
    common=(--quality-steps 2 --threads 1)
fi

# name|settings (speed.py --set), most telling first; families alternate so both get rows early.
configs=(
    "plain|"
    "step cache|step_cache=${GPU_BENCH_STEP_CACHE:-medium}"
    "compile|compile=${GPU_BENCH_COMPILE:-1}"
)  # not compile with step cache: DeepCache swaps the block forwards a compiled UNet holds (refused)
# The settings this build has, asked once: a configuration that needs another is not run.
missing="$(cd "$root" && "$python" -c 'import sys
from bot.app.settings import Settings
print(" ".join(k for k in sys.argv[1:] if k not in Settings.model_fields))' compile step_cache)"
started=$SECONDS
for config in "${configs[@]}"; do
    name="${config%%|*}"
    read -r -a sets <<< "${config#*|}"
    absent=""
    for pair in "${sets[@]}"; do
        key="${pair%%=*}"
        [[ " $missing " == *" $key "* ]] && absent="LIKENESS_${key^^}"
    done
    for family in sd15 sdxl; do
        var="${family}_env"
        label="$family · $name"
        if [[ -n $absent ]]; then
            printf '{"label": "%s", "status": "not run: %s is not a setting of this build"}\n' "$label" "$absent" >> "$results"
            continue
        fi
        left=$((budget - (SECONDS - started)))
        if ((left <= 0)); then
            printf '{"label": "%s", "status": "skipped: the %ss budget was spent"}\n' "$label" "$budget" >> "$results"
            continue
        fi
        args=()
        for pair in "${sets[@]}"; do args+=(--set "$pair"); done
        log="$work/row.log"
        status=0
        (cd "$root" && timeout "$left" "$python" benchmarks/speed.py --env-file "${!var}" --json \
            --label "$label" "${common[@]}" "${args[@]}" > "$work/row.jsonl" 2> "$log") || status=$?
        if ((status == 0)); then
            cat "$work/row.jsonl" >> "$results"
        else
            if ((status == 124)); then
                why="skipped: ran past the ${budget}s budget"
            else
                why="failed: $(grep -v '^\s*$' "$log" | tail -n 1 | tr '"\\' "'/")"
            fi
            printf '{"label": "%s", "status": "%s"}\n' "$label" "$why" >> "$results"
        fi
    done
done

"$python" - "$results" "$dry_run" "$((SECONDS - started))" <<'EOF'
import json
import sys

path, dry_run, seconds = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
head = ["model · config", "speed", "steps", "diffusers s/image", "diffusers it/s", "Likeness s/image",
        "Likeness it/s", "Likeness / diffusers", "peak memory"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join("---" for _ in head) + "|")
for row in rows:
    if "status" in row:
        print(f"| {row['label']} | {row['status']} |" + " |" * (len(head) - 2))
        continue
    bare = row["bare_seconds"]
    print(
        f"| {row['label']} | {row['speed']} | {row['steps']} | {bare:.2f} | {row['bare_its']:.2f} | "
        f"{row['seconds']:.2f} | {row['its']:.2f} | {row['seconds'] / bare:.3f} | "
        f"{row['peak_mb']} MB {row['peak_kind']} |"
    )
kind = "dry run on the CPU with the tiny bundle (not a measurement)" if dry_run else "CUDA"
print(f"\n{kind}; {seconds} s in all; one run per row after a one-step warm-up; load time excluded.")
EOF
