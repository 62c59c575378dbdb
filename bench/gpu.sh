#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: build trtpace, run the gpu tests, the benchmarks and the main
# sweep, and write everything under $OUT (default ./gpu-out). Reads GPU state only: it never
# changes clocks, power limits, persistence or compute mode.
#   OUT=/tmp/out bash bench/gpu.sh
#   PARTS="tests mitigations" OUT=/tmp/out bash bench/gpu.sh    # only some parts
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
PARTS=${PARTS:-"tests overhead nvtx telemetry clocks pacing sweep mitigations armed"}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
want() { [[ " $PARTS " == *" $1 "* ]]; }
log() { echo "== $1" | tee -a "$OUT/log.txt"; }

nvidia-smi --query-gpu=name,driver_version,pci.bus_id,clocks.sm,clocks.max.sm,clocks.mem,pstate,power.draw \
  --format=csv > "$OUT/gpu.txt" 2>&1
log build
TRTPACE_CUDA_ARCHITECTURES=${TRTPACE_CUDA_ARCHITECTURES:-native} \
  $PY -m pip install -q --no-build-isolation --no-deps . >>"$OUT/log.txt" 2>&1 || { tail -30 "$OUT/log.txt"; exit 1; }
if want tests; then
  log "gpu tests"
  $PY -m pytest -m gpu -q -p no:cacheprovider tests 2>&1 | tee -a "$OUT/log.txt" | tail -15
fi
if want overhead; then
  log overhead
  $PY bench/overhead.py --json "$OUT/overhead.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want nvtx; then
  log "nvtx overhead (off vs on, then with a counting NVTX tool attached)"
  $PY bench/nvtx_overhead.py --json "$OUT/nvtx.json" 2>&1 | tee -a "$OUT/log.txt"
  $PY bench/nvtx_overhead.py --tool --json "$OUT/nvtx-tool.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want telemetry; then
  log telemetry
  $PY bench/telemetry.py --json "$OUT/telemetry.json" 2>&1 | tee -a "$OUT/log.txt"
  $PY -m trtpace env --json > "$OUT/env.json" 2>>"$OUT/log.txt"
fi
if want clocks; then
  log "clocks (read-only: show and --dry-run)"
  $PY -m trtpace clocks show --json > "$OUT/clocks.json" 2>>"$OUT/log.txt"
  $PY -m trtpace clocks lock --sm max --dry-run 2>&1 | tee -a "$OUT/log.txt"
  $PY -m trtpace clocks lock --sm base --mem max --dry-run 2>&1 | tee -a "$OUT/log.txt"
fi
if want pacing; then
  log pacing
  $PY bench/pacing.py --json "$OUT/pacing.json" 2>&1 | tee -a "$OUT/log.txt"
fi
if want sweep; then
  log sweep
  mkdir -p /tmp/trtpace-sweeps
  $PY -m trtpace sweep --gaps 0,0.1,0.2 --out /tmp/trtpace-sweeps/main --overwrite 2>>"$OUT/log.txt" | tee -a "$OUT/log.txt"
  $PY -m trtpace sweep -w tiny:launch=direct --gaps 0,0.1 --iterations 60 --out /tmp/trtpace-sweeps/direct --overwrite \
    2>>"$OUT/log.txt" | tee -a "$OUT/log.txt"
  tar -C /tmp/trtpace-sweeps -czf "$OUT/sweeps.tar.gz" .
fi
if want armed; then
  log "armed launch"
  $PY -m pytest -q -p no:cacheprovider tests/test_armed.py 2>&1 | tee -a "$OUT/log.txt" | tail -8
  # workload@gap@rounds@iterations[@policies][@name]: one interleaved compare each
  for spec in ${ARMED_RUNS:-"tiny@0.1@5@200"}; do
    IFS=@ read -r w gap rounds iters pol name <<<"$spec"
    $PY bench/armed.py --workload "$w" --gap "$gap" --rounds "$rounds" --iterations "$iters" \
      ${pol:+--policies "$pol"} --json "$OUT/armed-${name:-${w//[^a-z0-9]/_}-$gap}.json" 2>&1 | tee -a "$OUT/log.txt"
  done
fi
if want mitigations; then
  log mitigations
  $PY bench/mitigations.py --json "$OUT/mitigations.json" 2>&1 | tee -a "$OUT/log.txt"
fi
log done
