#!/usr/bin/env bash
# The benchmark as it was run for benchmarks/results: every step is resumable (finished cells are skipped), so the
# script can be interrupted and started again. Set PHASES to run only some of them, e.g. PHASES="sweep main".
set -euo pipefail
cd "$(dirname "$0")/.."
PHASES="${PHASES:-sweep main long throughput}"
bench() { ./wavemesh bench --config benchmarks/bench.yaml --out benchmarks/results "$@"; }
for phase in $PHASES; do
  case "$phase" in
    # Stage-3 learning rate of each method, chosen on two sizes (benchmarks/results/lr-sweep.md).
    sweep) bench --sizes 4x64x2,8x96x3 --budgets 0.25,1 --seeds 0 --learning-rates 0.00025,0.0005,0.001,0.002 --no-throughput ;;
    # Every size and method at initialisation, a quarter epoch and one epoch, three seeds.
    main) bench --budgets 0,0.25,1 --seeds 0,1,2 --no-throughput ;;
    # The long budgets with one seed: 3 epochs for every method, 10 for scratch (the paper's headline comparison).
    long) bench --budgets 3 --long-seeds 0 --no-throughput && bench --budgets 10 --long-seeds 0 --methods scratch --no-throughput ;;
    # Training-loop throughput against the matmul peak of the same run (run on an idle machine).
    throughput) bench --budgets 0 --seeds 0 --methods scratch --sizes 2x64x2 ;;
    *) echo "unknown phase $phase" >&2; exit 2 ;;
  esac
done
