#!/usr/bin/env bash
# The benchmark as it was run for benchmarks/results: every step is resumable (finished cells are skipped), so the
# script can be interrupted and started again. Set PHASES to run only some of them, e.g. PHASES="main".
set -euo pipefail
cd "$(dirname "$0")/.."
PHASES="${PHASES:-main long throughput}"
bench() { ./wavemesh bench --config benchmarks/bench.yaml --out benchmarks/results "$@"; }
for phase in $PHASES; do
  case "$phase" in
    # Every size and method at initialisation, a quarter epoch and one epoch, three seeds.
    main) bench --budgets 0,0.25,1 --seeds 0,1,2 --no-throughput ;;
    # The long budget, one seed, on the three cheapest sizes (one per depth): WAVE after 1 epoch against scratch
    # after 3, and whether WAVE's lead lasts to 3 epochs.
    long) bench --sizes 2x64x2,4x64x2,8x64x2 --budgets 3 --long-seeds 0 --methods scratch,wave --no-throughput ;;
    # Training-loop throughput against the matmul peak of the same run (run on an idle machine).
    throughput) bench --budgets 0 --seeds 0 --methods scratch --sizes 2x64x2 ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
