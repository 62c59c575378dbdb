#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build trtpace, run the gpu tests, the benchmarks and the main
# sweep, and write everything under $OUT (default ./gpu-out). Reads GPU state only: it never
# changes clocks, power limits, persistence or compute mode.
#   OUT=/tmp/out bash bench/gpu.sh
#   PARTS="tests mitigations" OUT=/tmp/out bash bench/gpu.sh    # only some parts
# PACK=FILE.tar.gz keeps a tarball of everything under $OUT, refreshed as each part starts and at
# the end, so a run cut off by a time limit still hands back what it finished, as one file.
# SC2094: a part's stderr and its tee both append to log.txt, on purpose.
# shellcheck disable=SC2094
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
PARTS=${PARTS:-"tests overhead nvtx telemetry clocks pacing sweep multigpu anatomy mitigations armed armedpy resident torch apppath lazyload apploop gapwork"}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.." || exit 1
want() { [[ " $PARTS " == *" $1 "* ]]; }
pack() { if [ -n "${PACK:-}" ]; then tar -C "$OUT" --exclude="./${PACK##*/}*" -czf "$PACK.tmp" . && mv "$PACK.tmp" "$PACK"; fi; }
log() { pack; echo "== $1" | tee -a "$OUT/log.txt"; }

nvidia-smi --query-gpu=name,driver_version,pci.bus_id,clocks.sm,clocks.max.sm,clocks.mem,pstate,power.draw \
  --format=csv > "$OUT/gpu.txt" 2>&1
log build
# The test hooks ON: the gpu tests inject faults (CMakeLists.txt's TRTPACE_TEST_HOOKS).
TRTPACE_TEST_HOOKS=ON TRTPACE_CUDA_ARCHITECTURES=${TRTPACE_CUDA_ARCHITECTURES:-native} \
  "$PY" -m pip install -q --no-build-isolation --no-deps -Cbuild-dir=build/gpu . >>"$OUT/log.txt" 2>&1 \
  || { tail -30 "$OUT/log.txt"; exit 1; }
if want tests; then
  log "gpu tests"
  # PYTEST_K: a -k expression to run only some gpu tests
  "$PY" -m pytest -m gpu -q -p no:cacheprovider ${PYTEST_K:+-k "$PYTEST_K"} --ignore=tests/test_armed_fresh.py tests 2>&1 |
    tee "$OUT/gpu-tests.txt" | tail -15
  log "armed entry points in fresh processes (each under a watchdog, several at once: they time nothing)"
  timeout "${FRESH_TIMEOUT_S:-360}" "$PY" -m pytest -m gpu -q -p no:cacheprovider -p no:benchmark -n "${FRESH_JOBS:-6}" ${PYTEST_K:+-k "$PYTEST_K"} tests/test_armed_fresh.py 2>&1 |
    tee "$OUT/gpu-tests-fresh.txt" | tail -15
fi
if want cuda12; then
  # The CUDA 12 build beside the CUDA 13 one (issue #24): a CUDA 12.4 toolkit carried as
  # CUDA12_TOOLKIT (a .tar.xz of .ci/cuda12-toolkit's toolkit), the same commit built into its own
  # folder, and the gpu tests run from it. CUDA12_PARTS: "tests sweep armed" (default).
  log "CUDA 12 build"
  tk=/tmp/cuda12-toolkit
  mkdir -p "$tk" && tar -xJf "${CUDA12_TOOLKIT:?CUDA12_TOOLKIT names the carried toolkit}" -C "$tk"
  CUDA_HOME=$tk TRTPACE_CUDA_MAJOR=12 TRTPACE_CUDA_ARCHITECTURES=90-real TRTPACE_TEST_HOOKS=ON \
    "$PY" -m pip install -q --no-build-isolation --no-deps --target /tmp/trtpace-cu12 -Cbuild-dir=build/gpu12 . \
    >"$OUT/cuda12-build.txt" 2>&1 || { tail -30 "$OUT/cuda12-build.txt"; exit 1; }
  PYTHONPATH=/tmp/trtpace-cu12 "$PY" -c 'import trtpace._core as c, json; p = c.probe_cuda()
assert p["runtime_version"] // 1000 == 12, p
print(json.dumps({"probe": p, "features": c.features(0)}, indent=1))' | tee "$OUT/cuda12-env.json" || exit 1
  for part in ${CUDA12_PARTS:-tests sweep armed}; do
    case $part in
    tests)
      log "gpu tests from the CUDA 12 build"
      PYTHONPATH=/tmp/trtpace-cu12 "$PY" -m pytest -m gpu -q -p no:cacheprovider --ignore=tests/test_armed_fresh.py tests 2>&1 |
        tee "$OUT/cuda12-gpu-tests.txt" | tail -15
      PYTHONPATH=/tmp/trtpace-cu12 timeout "${FRESH_TIMEOUT_S:-360}" "$PY" -m pytest -m gpu -q -p no:cacheprovider -p no:benchmark \
        -n "${FRESH_JOBS:-6}" tests/test_armed_fresh.py 2>&1 | tee "$OUT/cuda12-gpu-tests-fresh.txt" | tail -15 ;;
    sweep)
      # the main job from each build, alternating, so that drift shows as a difference between runs
      log "main sweep: CUDA 12 build, CUDA 13 build, CUDA 12 build"
      # CUDA12_SWEEP_ARGS (e.g. "-w tiny --iterations 60") and CUDA12_SWEEP_BUILDS shorten it
      for b in ${CUDA12_SWEEP_BUILDS:-12 13 12b}; do
        # shellcheck disable=SC2086  # the arguments are a list: split on purpose
        PYTHONPATH=$([ "$b" = 13 ] || echo /tmp/trtpace-cu12) "$PY" -m trtpace sweep --gaps 0,0.1,0.2 ${CUDA12_SWEEP_ARGS:-} \
          --out "/tmp/trtpace-cuda-builds/sweep-cuda$b" --overwrite --json >"$OUT/cuda-builds-sweep-$b.json" 2>>"$OUT/log.txt"
        pack
      done ;;
    armed)
      log "armed compare: CUDA 12 build, CUDA 13 build"
      for b in 12 13; do
        PYTHONPATH=$([ "$b" = 13 ] || echo /tmp/trtpace-cu12) "$PY" bench/armed.py --workload tiny --gap 0.1 \
          --rounds "${CUDA12_ARMED_ROUNDS:-3}" --iterations "${CUDA12_ARMED_ITERATIONS:-200}" \
          --json "$OUT/cuda-builds-armed-$b.json" 2>&1 | tail -12 | tee -a "$OUT/log.txt"
        pack
      done ;;
    esac
    pack
  done
fi
if want overhead; then
  log overhead
  "$PY" bench/overhead.py --json "$OUT/overhead.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want nvtx; then
  log "nvtx overhead (off vs on, then with a counting NVTX tool attached)"
  "$PY" bench/nvtx_overhead.py --json "$OUT/nvtx.json" 2>&1 | tee -a "$OUT/log.txt"
  "$PY" bench/nvtx_overhead.py --tool --json "$OUT/nvtx-tool.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want telemetry; then
  log telemetry
  "$PY" bench/telemetry.py --json "$OUT/telemetry.json" 2>&1 | tee -a "$OUT/log.txt"
  "$PY" -m trtpace env --json > "$OUT/env.json" 2>>"$OUT/log.txt"
fi
if want clocks; then
  log "clocks (read-only: show and --dry-run)"
  "$PY" -m trtpace clocks show --json > "$OUT/clocks.json" 2>>"$OUT/log.txt"
  "$PY" -m trtpace clocks lock --sm max --dry-run 2>&1 | tee -a "$OUT/log.txt"
  "$PY" -m trtpace clocks lock --sm base --mem max --dry-run 2>&1 | tee -a "$OUT/log.txt"
fi
if want pacing; then
  log pacing
  "$PY" bench/pacing.py --json "$OUT/pacing.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want sweep; then
  log sweep
  mkdir -p /tmp/trtpace-sweeps
  "$PY" -m trtpace sweep --gaps 0,0.1,0.2 --out /tmp/trtpace-sweeps/main --overwrite 2>>"$OUT/log.txt" | tee -a "$OUT/log.txt"
  "$PY" -m trtpace sweep -w tiny:launch=direct --gaps 0,0.1 --iterations 60 --out /tmp/trtpace-sweeps/direct --overwrite \
    2>>"$OUT/log.txt" | tee -a "$OUT/log.txt"
  tar -C /tmp/trtpace-sweeps -czf "$OUT/sweeps.tar.gz" .
fi
if want armed; then
  log "armed launch"
  # workload@gap@rounds@iterations[@policies][@name]: one interleaved compare each
  for spec in ${ARMED_RUNS:-"tiny@0.1@5@200"}; do
    IFS=@ read -r w gap rounds iters pol name <<<"$spec"
    "$PY" bench/armed.py --workload "$w" --gap "$gap" --rounds "$rounds" --iterations "$iters" \
      ${pol:+--policies "$pol"} --json "$OUT/armed-${name:-${w//[^a-z0-9]/_}-$gap}.json" 2>&1 | tee -a "$OUT/log.txt"
    pack
  done
fi
if want multigpu; then
  log "two workers on GPU 0 (--gpu 0,0: the multi-GPU code path on one GPU), together and each alone"
  "$PY" -m trtpace sweep -w tiny --gaps 0,0.1 --iterations 100 --warmup 10 --gpu 0,0 --allow-shared-gpu \
    --out /tmp/trtpace-multigpu --overwrite --json > "$OUT/multigpu.json" 2>>"$OUT/log.txt"
  tar -C /tmp -czf "$OUT/multigpu.tar.gz" trtpace-multigpu
fi
if want anatomy; then
  log "gate anatomy (standalone: bench/gate_anatomy.cu)"
  nvcc -O2 -std=c++17 -arch=native -o /tmp/gate_anatomy bench/gate_anatomy.cu >>"$OUT/log.txt" 2>&1 &&
    for a in ${ANATOMY_RUNS:-20@3@100 100@2@50}; do
      IFS=@ read -r gap rounds n <<<"$a"
      /tmp/gate_anatomy "$gap" "$rounds" "$n" | tee "$OUT/gate-anatomy-${gap}ms.txt"
    done
fi
if want armedpy; then
  log "armed launch from Python: staged input, release, wait (bench/armed_python.py)"
  "$PY" bench/armed_python.py --gap "${ARMEDPY_GAP:-0.1}" --rounds 5 --n "${ARMEDPY_N:-200}" \
    --json "$OUT/armed-python.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want resident; then
  log "the resident armed loop against per-frame arming, as a Pacer embeds them (bench/resident.py)"
  # RESIDENT_ARGS: e.g. "--workload tiny --rounds 4 --iterations 250"
  # shellcheck disable=SC2086  # RESIDENT_ARGS is a list of arguments: split on purpose
  "$PY" bench/resident.py ${RESIDENT_ARGS:-} --json "$OUT/resident.json" 2>&1 | tee "$OUT/resident.txt"
  pack
fi
if want torch; then
  log "remedies on a PyTorch module's own launch path (trtpace compare --torch)"
  # model@launch@gap@rounds@iterations@policies@name: one interleaved compare each
  for spec in ${TORCH_RUNS:-bench.models:conv_net@graph@0.1@2@100@sleep,armed:kernel,armed:wait@conv-graph-0.1}; do
    IFS=@ read -r model launch gap rounds iters pol name <<<"$spec"
    "$PY" -m trtpace compare --torch "$model" --launch "$launch" --gap "$gap" --rounds "$rounds" \
      --iterations "$iters" --policies "$pol" --out "/tmp/trtpace-compare-$name" --overwrite --no-report --json \
      > "$OUT/compare-$name.json" 2>>"$OUT/log.txt"
    "$PY" -m trtpace report "/tmp/trtpace-compare-$name" --html "$OUT/compare-$name.html" 2>&1 | tail -14 | tee -a "$OUT/log.txt"
    pack
  done
fi
if want apppath; then
  log "app paths (eager, replay, graph) with --io ${APP_IO:-none}"
  "$PY" bench/app_path.py --io "${APP_IO:-none}" --iterations "${APP_ITERS:-150}" \
    --json "$OUT/app-path-${APP_IO:-none}.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want lazyload; then
  log "lazy module loading: a first launch while a gate spins (bench/lazy_loading.cu)"
  nvcc -O2 -std=c++17 -arch=native -o /tmp/lazy_loading bench/lazy_loading.cu bench/lazy_loading_other.cu >>"$OUT/log.txt" 2>&1 &&
    for m in LAZY EAGER; do for p in 0 1; do
      CUDA_MODULE_LOADING=$m timeout 30 /tmp/lazy_loading preload=$p
    done; done 2>&1 | tee "$OUT/lazy-loading.txt"
fi
if want apploop; then
  log "the original report's app loop (bench/app_loop.py: JPEG decode, 30 frames/s camera), CUDA_MODULE_LOADING unset"
  # APPLOOP_ARGS: e.g. "--models conv,mobilenet_v3_small --rounds 5 --n 200"
  # shellcheck disable=SC2086  # APPLOOP_ARGS is a list of arguments: split on purpose
  env -u CUDA_MODULE_LOADING "$PY" bench/app_loop.py ${APPLOOP_ARGS:-} --json "$OUT/app-loop.json" 2>&1 | tee "$OUT/app-loop.txt"
  pack
fi
if want gapwork; then
  log "compare with the app's gap (--gap-work) beside an idle gap"
  # model@launch@gap@gapwork@rounds@iterations@policies@name[@flags]: one interleaved compare each;
  # flags (comma-separated) are added to the command, e.g. --no-telemetry to see whether the
  # telemetry thread's GIL takes delay a Python launch path after Python gap work.
  for spec in ${GAPWORK_RUNS:-bench.models:conv_net@replay@0.033@jpeg:1280x720@5@200@sleep,armed:kernel@conv-replay-jpeg}; do
    IFS=@ read -r model launch gap work rounds iters pol name flags <<<"$spec"
    # shellcheck disable=SC2046  # the flags are a list of arguments: split on purpose
    "$PY" -m trtpace compare --torch "$model" --launch "$launch" --io pinned --gap "$gap" --gap-work "$work" $(tr , ' ' <<<"${flags:-}") \
      --rounds "$rounds" --iterations "$iters" --policies "$pol" --out "/tmp/trtpace-gapwork-$name" --overwrite \
      --no-report --json > "$OUT/compare-$name.json" 2>>"$OUT/log.txt"
    "$PY" -m trtpace report "/tmp/trtpace-gapwork-$name" 2>&1 | tail -20 | tee -a "$OUT/log.txt"
    pack
  done
fi
if want mitigations; then
  log mitigations
  "$PY" bench/mitigations.py --json "$OUT/mitigations.json" 2>&1 | tee -a "$OUT/log.txt"
fi
log "done"
