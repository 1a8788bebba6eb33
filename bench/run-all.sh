#!/usr/bin/env bash
# Runs every benchmark mode on both stores, one after another, appending the JSON lines to
# bench/results.jsonl, then draws the sustained mode's chart. Takes about an hour.
set -euo pipefail
cd "$(dirname "$0")/.."
results=bench/results.jsonl
: > "$results"
cargo build -p hookah-host --release --example bench --bin hookah-host
# The guests' attempt and sweep log lines go to stdout too: keep the bench's own lines.
bench() { target/release/examples/bench "$@" --json-out "$results" | grep -v '"event":'; }
for store in sqlite redis; do
    bench accept --store "$store" --jobs 5000 --concurrency 32
    bench capacity --store "$store" --jobs 10000 --sweepers 4
    bench sustained --store "$store" --load 0.25,0.5 --duration 30
    bench sustained --store "$store" --load 0.8 --duration 180
    bench backlog --store "$store" --jobs 20000
    bench fanout --store "$store" --subscriptions 2000
    bench batch --store "$store" --jobs 5000 --concurrency 32
done
bench edge --store sqlite --duration 120
bench takeover --store redis --rate 2000 --duration 60
bench instances --store redis --jobs 5000 --concurrency 32
python3 -c 'import matplotlib' 2>/dev/null || pip install matplotlib
python3 bench/chart.py "$results" docs/bench-retry-lateness.png
