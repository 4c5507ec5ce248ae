#!/usr/bin/env bash
# Run Hark's benchmarks. Each prints its figures beside a reference measured in the same run;
# copy them into docs/BENCHMARKS.md with the machine (lscpu, free -g).
# Needs what scripts/test.sh installs and starts (wasm32-wasip2, RabbitMQ, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
lscpu | grep -E "Model name|^CPU\(s\)"
cargo bench -p hark-router --bench plan_latency
cargo bench --bench routing
cargo bench --bench live_latency
cargo bench --bench soak          # ten minutes; figures go to docs/RELIABILITY.md
cargo build --release --bin hark
scripts/bench-ivr.py
scripts/bench-upload.sh
scripts/bench-portal.sh
