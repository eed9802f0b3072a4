#!/usr/bin/env bash
# Peak resident memory of the default run from a fresh store (issue 13): `/usr/bin/time -v ./wavemesh run` with an
# empty store, and the process's resident memory sampled every half second, as run for
# benchmarks/results/memory/. Run it on an idle machine and nothing beside it.
#   benchmarks/memory-run.sh OUT [wavemesh run options...]
# OUT receives run.log (the run's output), time.txt (/usr/bin/time -v), rss.txt ("unix-seconds resident-kB" per line),
# report.md and summary.txt (wall clock, peak, and how far into the run the highest sample came).
# The store is a fresh folder under OUT, deleted at the end. WAVEMESH_SNAPSHOT (see ./wavemesh) pins a build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then sed -n 2,8p "$0" >&2; exit 2; fi
out="$1"; shift
command -v /usr/bin/time >/dev/null || { echo "memory-run: /usr/bin/time is missing (Debian package time)" >&2; exit 1; }
mkdir -p "$out"
store="$out/store"
rm -rf "$store" "$out/run" "$out/rss.txt"
./wavemesh --help >/dev/null   # build first, so the build is neither timed nor sampled

/usr/bin/time -v -o "$out/time.txt" ./wavemesh run --store "$store" --out "$out/run" "$@" >"$out/run.log" 2>&1 &
timer=$!
while kill -0 "$timer" 2>/dev/null; do
  pid=$(pgrep -P "$timer" -f wavemesh.dll | head -1 || true)
  if [[ -n "$pid" ]]; then
    kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [[ -n "$kb" ]] && echo "$(date +%s.%N | cut -c1-14) $kb" >>"$out/rss.txt"
  fi
  sleep 0.5
done
wait "$timer" || { echo "memory-run: the run failed; see $out/run.log" >&2; exit 1; }
cp "$out/run/report.md" "$out/report.md"
rm -rf "$store" "$out/run"

{
  grep -E "Elapsed \(wall clock\)|Maximum resident" "$out/time.txt" | sed 's/^[[:space:]]*//'
  read -r at kb < <(sort -k2 -n "$out/rss.txt" | tail -1)
  echo "highest sample: $((kb / 1024)) MB at $(awk -v t="$at" -v s="$(head -1 "$out/rss.txt" | cut -d' ' -f1)" 'BEGIN {printf "%d:%02d", (t - s) / 60, (t - s) % 60}') into the run"
} | tee "$out/summary.txt"
