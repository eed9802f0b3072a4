#!/usr/bin/env bash
# Runs ablations of the WAVE recipe (benchmarks/ablations/NAME.yaml, each extending base.yaml) one after another:
#   benchmarks/ablate.sh a0-main-recipe a1-distill-10 ...
# Each one's cells land in benchmarks/results/ablations/NAME/ (resumable: finished cells are skipped); teacher,
# templates and every job are cached in the artifact store, so ablations that share a stage pay for it once.
# SIZES, SEEDS and BUDGETS override the defaults below. Then `./wavemesh bench-table` writes results/ablations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="${SIZES:-2x64x2,4x96x3,8x64x2}"
SEEDS="${SEEDS:-0}"
BUDGETS="${BUDGETS:-0,0.25,1}"
for name in "$@"; do
  config="benchmarks/ablations/$name.yaml"
  [[ -f "$config" ]] || { echo "ablate: no such ablation: $config" >&2; exit 2; }
  echo "=== $name: $(head -1 "$config" | sed 's/^# *//')"
  ./wavemesh bench --config "$config" --out "benchmarks/results/ablations/$name" \
    --sizes "$SIZES" --seeds "$SEEDS" --budgets "$BUDGETS" --no-throughput
done
./wavemesh bench-table
