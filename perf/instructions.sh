#!/bin/sh
# Instructions per message of the real core (no sockets), counted by callgrind:
# reproducible on a noisy machine, unlike wall-clock figures.
#   perf/instructions.sh [N]          N messages per workload (default 200000)
# Prints a markdown table; keeps the callgrind files in $OUT (default target/instructions)
# for `callgrind_annotate`.
set -eu
cd "$(dirname "$0")/.."
N=${1:-200000}
OUT=${OUT:-${CARGO_TARGET_DIR:-target}/instructions}
mkdir -p "$OUT"
cargo build --release --example instructions >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/instructions
echo "| workload | messages | instructions/msg | per delivered |"
echo "|---|---:|---:|---:|"
for w in ingest16 pubsub128_local pubsub128_cross fanout128_4 wide100k; do
    f="$OUT/callgrind.$w.out"
    valgrind --tool=callgrind --callgrind-out-file="$f" --toggle-collect='*::measured' \
        "$BIN" "$w" "$N" >/dev/null 2>"$OUT/$w.log"
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f")
    [ -n "$ir" ] || ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f")
    case $w in
        fanout128_4) per=4 ;;
        wide100k) per=0.9 ;;   # 10% of the published subjects have no subscriber
        ingest16) per=0 ;;
        *) per=1 ;;
    esac
    awk -v w="$w" -v n="$N" -v ir="$ir" -v per="$per" 'BEGIN {
        d = per > 0 ? sprintf("%.0f", ir / (n * per)) : "-";
        printf "| %s | %d | %.0f | %s |\n", w, n, ir / n, d }'
done
