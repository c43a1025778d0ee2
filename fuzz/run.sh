#!/usr/bin/env bash
# Runs fuzz targets (all by default) for SECONDS each, one after the other, then prints one
# line per target: executions, executions per second, coverage (edges), corpus size.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]        (default: 20 s, every target)
#
# Each run starts from the committed seeds (fuzz/seeds/T) and the inputs of every crash found so
# far (fuzz/regressions/T, replayed first), and writes new inputs to fuzz/corpus/T (not
# committed). A crash fails the script; its input lands in fuzz/artifacts/T.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-20}"
[ "$#" -gt 0 ] && shift
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^shardnet-fuzz$')
fi
cargo +nightly fuzz build -a >/dev/null
mkdir -p logs
summary=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  dirs=("corpus/$t")
  for d in "seeds/$t" "regressions/$t"; do [ -d "$d" ] && dirs+=("$d"); done
  echo "== fuzz $t (${secs} s)"
  if ! cargo +nightly fuzz run -a "$t" "${dirs[@]}" -- -max_total_time="$secs" \
      -print_final_stats=1 >"logs/$t.log" 2>&1; then
    grep -E "panicked|ERROR|SUMMARY" "logs/$t.log" | head -20
    echo "fuzz target $t failed: input in fuzz/artifacts/$t, log in fuzz/logs/$t.log" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "logs/$t.log")
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "logs/$t.log" | tail -1 | cut -d' ' -f2)
  summary+=("$(printf '%-18s %12s execs %8s/s  cov %6s  corpus %6s' "$t" "$runs" "$rate" "$cov" "$corp")")
done
printf '%s\n' "${summary[@]}"
