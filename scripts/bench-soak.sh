#!/usr/bin/env bash
# An open-model soak at 2,000 req/s against the self-hosted target, for minutes, not an hour:
# samples the harness's RSS every second and the run directory's size (the bounded target log
# grows with it), then extrapolates both to one hour beside the limits (RSS under
# 200 MiB, run directory under 100 MB).
#
#   scripts/bench-soak.sh          # BENCH_SOAK_SECONDS=180 BENCH_SOAK_RATE=2000
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export BENCH_SOAK_SECONDS=${BENCH_SOAK_SECONDS:-180} BENCH_SOAK_RATE=${BENCH_SOAK_RATE:-2000}
cargo build --release -q --workspace --bins
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

target/release/harness run scripts/bench/soak.yaml --quiet --report-dir "$OUT" --target-bin target/release/target-app \
  > "$OUT/summary.txt" 2>&1 &
pid=$!
samples="$OUT/samples.tsv" # seconds, harness RSS KiB, run directory bytes
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
  dir=$(du -sb "$OUT" --exclude=samples.tsv --exclude=summary.txt 2>/dev/null | cut -f1)
  echo "$(( $(date +%s) - start )) ${rss:-0} ${dir:-0}" >> "$samples"
  sleep 1
done
code=0; wait "$pid" || code=$?
cat "$OUT/summary.txt"
final_dir=$(du -sb "$OUT" --exclude=samples.tsv --exclude=summary.txt | cut -f1)
python3 - "$samples" "$final_dir" "$BENCH_SOAK_SECONDS" "$BENCH_SOAK_RATE" "$OUT" <<'PY'
import glob, json, sys
rows = [tuple(map(int, line.split())) for line in open(sys.argv[1]) if line.strip()]
final_dir, seconds, rate, out = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [r for r in rows if r[1] > 0]
first_minute = [r for r in rows if r[0] >= 60] or rows
peak_kib = max(r[1] for r in rows)
# Growth after the first minute (start-up and the target log's first kept lines are done).
(t0, rss0, dir0), (t1, rss1, _) = first_minute[0], rows[-1]
minutes = max((t1 - t0) / 60, 1e-9)
rss_per_min = (rss1 - rss0) / 1024 / minutes
dir_per_min = (final_dir - dir0) / 1e6 / minutes
rss_hour = peak_kib / 1024 + max(rss_per_min, 0) * (60 - t1 / 60)
dir_hour = final_dir / 1e6 + max(dir_per_min, 0) * (60 - t1 / 60)
report = json.load(open(glob.glob(f"{out}/*/report.json")[0]))
phase = report["phases"][0]
log = report.get("target_log") or {}
print()
print(f"soak: {rate}/s intended, {phase['throughput']:.0f}/s achieved for {seconds}s, {phase['requests']} requests, {phase['errors']} errors")
print(f"target log: {log.get('written', 0)} of {log.get('lines', 0)} lines kept ({log.get('bound', 'no log')})")
print(f"{'':34} {'now':>10} {'per minute':>12} {'one hour':>10}  limit")
print(f"{'harness peak RSS (MiB)':34} {peak_kib / 1024:10.1f} {rss_per_min:12.2f} {rss_hour:10.1f}  < 200 {'met' if rss_hour < 200 else 'MISSED'}")
print(f"{'run directory (MB)':34} {final_dir / 1e6:10.2f} {dir_per_min:12.3f} {dir_hour:10.1f}  < 100 {'met' if dir_hour < 100 else 'MISSED'}")
PY
exit "$code"
