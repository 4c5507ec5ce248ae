#!/usr/bin/env bash
# Fuzz every parser that reads outside input, each for a bounded time (issue 8).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     default: 60 s, every target
#
# Needs the nightly toolchain (libFuzzer) and cargo-fuzz; installs cargo-fuzz when missing.
# Each target starts from its seed corpus in fuzz/corpus/<target> (copied, so the committed
# seeds stay as they are; new interesting inputs are kept in target/fuzz-corpus/<target>).
# A crash is written to fuzz/artifacts/<target>/ and the script exits 1: turn it into a
# regression test beside the code it broke, then fix the code. Prints, per target, the
# executions libFuzzer ran and the corpus it ended with.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked
fi
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

# Rust code is memory-safe, and what is unsafe below us (symphonia's, the allocator's) is
# exercised by the same runs; without a sanitizer the runs go several times faster.
cargo +nightly fuzz build --sanitizer none

failed=0
printf '%-14s %10s %8s %8s %s\n' TARGET EXECUTIONS SECONDS CORPUS RESULT
for t in "${targets[@]}"; do
  work=target/fuzz-corpus/$t
  mkdir -p "$work" "fuzz/artifacts/$t"
  cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log=target/fuzz-corpus/$t.log
  if cargo +nightly fuzz run --sanitizer none "$t" "$work" -- \
    -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    >"$log" 2>&1; then
    result=ok
  else
    result="CRASH: see fuzz/artifacts/$t and $log"
    failed=1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  took=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' | tail -1 || true)
  printf '%-14s %10s %8s %8s %s\n' "$t" "${runs:-?}" "${took:-$secs}" "$(ls "$work" | wc -l)" "$result"
done
exit $failed
