#!/usr/bin/env bash
# Stage 2's budget for `./wavemesh init`: accuracy at initialisation and wall clock per size and recipe, as run for
# benchmarks/results/init-sweep.md. Run it on an idle machine and nothing beside it: every row is timed.
#   benchmarks/init-sweep.sh TEMPLATES STORE [ROW...]
# TEMPLATES is a templates file (or the store object of one), STORE the store that holds its teacher and auxiliary
# scalers. A ROW is "depth width heads steps learning-rate subset"; without rows, the grid of init-sweep.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then sed -n 2,6p "$0" >&2; exit 2; fi
templates="$1"; store="$2"; shift 2
rows=("$@")
if [ ${#rows[@]} -eq 0 ]; then
  rows=()
  for lr in 0.1 0.06 0.03 0.015 0.01 0.005 0.003 0.002; do rows+=("8 128 4 100 $lr 5000"); done
  rows+=("8 128 4 60 0.005 5000")
  for lr in 0.06 0.01 0.005; do rows+=("8 128 4 150 $lr 5000"); done
  for lr in 0.06 0.03 0.015 0.01; do rows+=("8 128 4 300 $lr 5000"); done
  for size in "4 96 3" "2 64 2"; do
    for recipe in "300 0.03" "300 0.005" "300 0.003" "100 0.005" "100 0.003"; do rows+=("$size $recipe 5000"); done
  done
  for size in "8 128 4" "4 96 3" "2 64 2"; do rows+=("$size 300 0.03 20000"); done
  for size in "8 128 4" "4 96 3"; do rows+=("$size 300 0.03 40000"); done
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| size | steps x 128 images | learning rate | subset | accuracy at init | last smoothed loss | wall clock |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
  read -r depth width heads steps lr subset <<<"$row"
  log="$out/init.log"
  start=$(date +%s.%N)
  # --seed 2: a seed none of the run's stage-2 jobs used, so every row trains afresh.
  ./wavemesh init --templates "$templates" --store "$store" --depth "$depth" --width "$width" --heads "$heads" \
    --out "$out/model.safetensors" --seed 2 --steps "$steps" --learning-rate "$lr" --subset "$subset" >"$log" 2>&1
  end=$(date +%s.%N)
  accuracy=$(grep -o 'initialisation: [0-9.]* %' "$log" | grep -o '[0-9.]*' )
  loss=$(grep -o 'loss [0-9.]*' "$log" | tail -1 | grep -o '[0-9.]*')
  printf '| L%s D%s H%s | %s | %s | %s | %s%% | %s | %.1f s |\n' "$depth" "$width" "$heads" "$steps" "$lr" "$subset" \
    "$accuracy" "$loss" "$(echo "$end - $start" | bc)"
done
