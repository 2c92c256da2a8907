#!/usr/bin/env bash
# Prove plancheck's hardware and NVML controls on a real NVIDIA GPU, on the project's lab machine
# (one H100, no Docker, no network; Python 3.12 with pytest, hypothesis and nvidia-ml-py only).
# Nothing is installed: the engine runs from the tree (PYTHONPATH=., `-p plancheck.plugin`), other
# wheels come from bench/wheels/ (bench/fetch_lab_wheels.sh, carried with the tree).
#
#   bench/gpu_lab_check.sh            # PYTHON=python3.12 to pick the interpreter
#
# Through the device tool: first `bench/fetch_lab_wheels.sh` here, then
#   run(command="bench/gpu_lab_check.sh", carry=["bench/wheels"], timeout_s=300)
# (the lab image lacks pydantic, croniter and pytest-testinfra; about 1 minute of device time).
#
# Everything it prints also goes to gpu-lab.log; with $OUT set (the device tool), that log, the
# recorded facts and each run's results.json are copied there (8 files at most, top level).
#
# Steps, each PASS or FAIL; the exit status is 0 only when all pass:
#   0. preflight (bench/lab_preflight.py): every module the engine imports here; a missing one is
#      named with its wheel, and bench/wheels/ fills the gaps when carried
#   1. the hardware and NVML controls with --profile=gpu-lab: no control fails
#   2. one CUDA process (bench/cuda_hold.py: ctypes -> libcuda.so, no toolkit) is found by the GPU
#      source: its PID, on which GPU, owned by which container (none: a host process)
#   3. while it runs, GPU-015 (who uses GPU 0) fails naming that PID: the mapping reaches the controls
#   4. it stops; the controls again with a profile expecting 4 GPUs: exactly GPU-001 (count) fails more
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
exec > >(tee "$WORK/gpu-lab.log") 2>&1
TEE=$!
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
declare -A RESULT
HOLD=""
finish() {
    [ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null
    exec >&- 2>&-
    wait "$TEE" 2>/dev/null  # the log is complete before it is copied
    if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
        for f in gpu-lab.log run1-facts.json gpu-facts-with-process.json cuda_hold.out; do
            [ -f "$WORK/$f" ] && cp "$WORK/$f" "$OUT/"
        done
        for r in run1 run3 run4; do
            [ -f "$WORK/$r/latest/results.json" ] && cp "$WORK/$r/latest/results.json" "$OUT/$r-results.json"
        done
    fi
}
trap finish EXIT

say() { printf '\n=== %s\n' "$*"; }

# --- 0. preflight ---------------------------------------------------------------------------------
say "0. preflight ($("$PY" -V 2>&1), $(uname -m), reports in $WORK${OUT:+, copied to \$OUT})"
command -v nvidia-smi >/dev/null && nvidia-smi -L
command -v docker >/dev/null && echo "docker: $(command -v docker)" || echo "docker: not installed (as planned for the lab)"
if "$PY" bench/lab_preflight.py --quiet; then
    echo "modules: all importable from this Python"
elif compgen -G "bench/wheels/*.whl" >/dev/null; then
    # the lab's own packages first; where some are missing, the carried wheels (all of them, so
    # pydantic and pydantic-core come from one set) go in front, unpacked: nothing is installed
    SITE="$ROOT/bench/.lab-site"
    if [ ! -f "$SITE/.unpacked" ] || [ -n "$(find bench/wheels -name '*.whl' -newer "$SITE/.unpacked")" ]; then
        rm -rf "$SITE" && mkdir -p "$SITE"
        for w in bench/wheels/*.whl; do "$PY" -m zipfile -e "$w" "$SITE" || exit 2; done
        touch "$SITE/.unpacked"
    fi
    export PYTHONPATH="$ROOT:$SITE${PYTHONPATH#"$ROOT"}"
    echo "wheels: $(ls bench/wheels | wc -l) from bench/wheels, unpacked in bench/.lab-site, on PYTHONPATH"
    "$PY" bench/lab_preflight.py || { echo "preflight: FAIL"; exit 2; }
    echo "modules: all importable (with the carried wheels)"
else
    "$PY" bench/lab_preflight.py
    echo "preflight: FAIL (bench/wheels/ is empty or absent)"
    exit 2
fi
RESULT[0-preflight]=PASS

# --- helpers ----------------------------------------------------------------------------------------
controls() {  # NAME PROFILE KEYWORDS [pytest args...]: run the two check modules; log and reports under $WORK/NAME
    local name=$1 profile=$2 keywords=$3; shift 3
    "$PY" -m pytest -p no:plancheck -p plancheck.plugin checks/test_hardware.py checks/test_gpu.py \
        --profile="$profile" -k "$keywords" --reports-dir="$WORK/$name" -q -p no:cacheprovider "$@" \
        >"$WORK/$name.log" 2>&1
    local rc=$?
    grep -E "^profile .*checks" "$WORK/$name.log" || tail -15 "$WORK/$name.log"
    return $rc
}
failed() {  # NAME [-v]: the failed/errored control ids of that run on one line; -v: per control, its items and a message
    "$PY" - "$WORK/$1/latest/results.json" "${2:-}" <<'EOF'
import json, os, sys
from collections import defaultdict
if not os.path.exists(sys.argv[1]):
    print("  (no results.json: the run stopped before any check; see its log above)" if sys.argv[2] else "NO-RESULTS")
    sys.exit(0)
doc = json.load(open(sys.argv[1]))
if sys.argv[2] != "-v":
    print(" ".join(sorted({c["control"] for c in doc["checks"] if c["outcome"] in ("failed", "error")})))
    sys.exit(0)
groups = defaultdict(list)
for c in doc["checks"]:
    if c["outcome"] != "passed":
        groups[(c["outcome"], c["control"])].append(c)
for (outcome, ctl), cs in sorted(groups.items()):
    ids = [c["nodeid"].split("[")[1].rstrip("]") for c in cs if "[" in c["nodeid"]]
    where = f" [{', '.join(ids[:6])}{', ...' if len(ids) > 6 else ''}]" if ids else ""
    print(f"  {outcome:7} {ctl} x{len(cs)}{where}: {cs[0]['message'][:260]}")
EOF
}

# --- 1. the lab as gpu-lab -----------------------------------------------------------------------
say "1. hardware + NVML controls, --profile=gpu-lab (pinning controls need Docker: deselected)"
controls run1 gpu-lab "not pinning" --dump-facts="$WORK/run1-facts.json"
failed run1 -v
"$PY" - "$WORK/run1-facts.json" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
h = f.get("host")
if h:
    print(f"  host: {h['cpu_vendor']} {h['cpu_model']}, {h['cpus']} CPUs ({h['cores']} cores), "
          f"{h['memory_total'] / 2**30:.1f} GiB, disks {[(d['name'], d['transport'], round(d['size'] / 2**30)) for d in h['disks']]}")
EOF
RUN1=$(failed run1)
if ! "$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("gpu", {}).get("nvml_available") else 1)' \
        "$WORK/run1-facts.json" 2>/dev/null; then
    echo "NVML is not available here: this is not a machine with a working NVIDIA driver; steps 2-4 need one"
    echo "  1-gpu-lab: FAIL ($RUN1)"
    exit 1
fi
if [ -z "$RUN1" ]; then RESULT[1-gpu-lab]=PASS; else
    RESULT[1-gpu-lab]="FAIL ($RUN1): if the lab differs from profiles/gpu-lab.yaml's comments, correct the profile"; fi

# --- 2. one CUDA process, found through NVML ---------------------------------------------------------
say "2. one CUDA process (bench/cuda_hold.py) and the GPU source"
"$PY" bench/cuda_hold.py --device 0 --seconds 300 >"$WORK/cuda_hold.out" 2>&1 &
HOLD=$!
for _ in $(seq 1 120); do
    grep -q '^ready' "$WORK/cuda_hold.out" && break
    kill -0 "$HOLD" 2>/dev/null || break
    sleep 0.25
done
cat "$WORK/cuda_hold.out"
PID=$(sed -n 's/^ready pid=\([0-9]*\).*/\1/p' "$WORK/cuda_hold.out")
if [ -n "$PID" ]; then
    sleep 1  # let the driver publish the context
    if "$PY" bench/gpu_lab_facts.py --profile gpu-lab --expect-pid "$PID" --json "$WORK/gpu-facts-with-process.json"; then
        RESULT[2-process-found]=PASS; else RESULT[2-process-found]="FAIL (pid $PID not in NVML's process list)"; fi

    # --- 3. the controls see it ------------------------------------------------------------------------
    say "3. GPU-015 while pid $PID holds GPU 0: expected to fail naming it"
    controls run3 gpu-lab "test_gpu_users_as_planned"
    failed run3 -v
    if [ "$(failed run3)" = "GPU-015" ] && grep -q "pid $PID" "$WORK/run3/latest/results.json"; then
        RESULT[3-control-sees-process]=PASS; else RESULT[3-control-sees-process]="FAIL (expected GPU-015 naming pid $PID)"; fi
else
    RESULT[2-process-found]="FAIL (no CUDA context: see $WORK/cuda_hold.out)"
    RESULT[3-control-sees-process]="FAIL (no CUDA process to see)"
fi
[ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null && wait "$HOLD" 2>/dev/null
HOLD=""

# --- 4. a profile expecting four GPUs -------------------------------------------------------------
say "4. the same controls with a profile expecting 4 GPUs"
printf 'extends: %s/profiles/gpu-lab.yaml\nname: gpu-lab-4\nhardware: {gpu: {count: 4}}\n' "$ROOT" >"$WORK/gpu-lab-4.yaml"
controls run4 "$WORK/gpu-lab-4.yaml" "not pinning"
failed run4 -v
RUN4=$(failed run4)
NEW=$(comm -13 <(tr ' ' '\n' <<<"$RUN1" | sort -u) <(tr ' ' '\n' <<<"$RUN4" | sort -u) | tr '\n' ' ' | sed 's/ $//')
echo "  failed with gpu-lab: [${RUN1}]  with 4 GPUs: [${RUN4}]  new: [${NEW}]"
if [ "$NEW" = "GPU-001" ]; then RESULT[4-count-only]=PASS; else RESULT[4-count-only]="FAIL (new failures: [$NEW], expected exactly GPU-001)"; fi

# --- verdict ---------------------------------------------------------------------------------------
say "summary"
status=0
for step in $(printf '%s\n' "${!RESULT[@]}" | sort); do
    echo "  $step: ${RESULT[$step]}"
    [ "${RESULT[$step]}" = PASS ] || status=1
done
exit $status
