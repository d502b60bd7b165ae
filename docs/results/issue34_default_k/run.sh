#!/bin/bash
# The cost of `radgen evaluate`'s default K = 3 extractor trainings against K = 1, on one run (issue 34).
# Each evaluation starts from an empty extractor and data cache (RADGEN_CACHE_DIR; cold), then K = 3 again on its
# warm cache.
# Usage: flock /tmp/radgen-cpu.lock bash docs/results/issue34_default_k/run.sh OUT
set -euo pipefail
OUT=${1:-/tmp/k3}
R=$(cd "$(dirname "$0")/../../.." && pwd)
PY=$R/.venv/bin/python
export OMP_NUM_THREADS=2
rm -rf "$OUT"; mkdir -p "$OUT"
RADGEN_CACHE_DIR=$OUT/cache0 $PY -m radgen train demo_cvae --set data.name=pneumoniamnist --set train.epochs=2 --output-dir "$OUT/runs" --no-progress
RUN=$(ls -d "$OUT"/runs/*/)
for K in 1 3; do
  RADGEN_CACHE_DIR=$OUT/cache$K /usr/bin/time -f "K=$K cold: %e s wall, %M KB peak" $PY -m radgen evaluate "$RUN" --n 500 --extractor-seeds $K --no-progress > "$OUT/eval_k$K.md" 2>> "$OUT/times.txt"
done
RADGEN_CACHE_DIR=$OUT/cache3 /usr/bin/time -f "K=3 warm: %e s wall, %M KB peak" $PY -m radgen evaluate "$RUN" --n 500 --extractor-seeds 3 --no-progress > "$OUT/eval_k3_warm.md" 2>> "$OUT/times.txt"
grep -E "^K=" "$OUT/times.txt"
