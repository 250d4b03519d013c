#!/usr/bin/env bash
# Connections per second with JWT auth (operator mode, MEMORY resolver): natrix vs
# nats-server 2.9.10, same operator/account/user, alternating A/B, median of 3 rounds.
# Each connection: TCP connect, INFO, CONNECT with jwt + nonce signature, PING/PONG, close.
# Usage: perf/jwt_connrate.sh [secs per run, default 3] [concurrency, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
conc=${2:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --bin natrix --bin natrix-bench >/dev/null 2>&1
bin="$CARGO_TARGET_DIR/release"
ref=$(command -v nats-server || echo /usr/sbin/nats-server)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/natrix-bench" jwt-setup "$work"
run() { # name binary port
  "$2" -c "$work/jwt.conf" -a 127.0.0.1 -p "$3" >"$work/$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q "Server is ready" "$work/$1.log" 2>/dev/null && break; sleep 0.05; done
  "$bin/natrix-bench" connrate --url "127.0.0.1:$3" --creds "$work/user.creds" --secs "$secs" -c "$conc" \
    --server-pid "$pid" --json
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
rates() { sed -n 's/.*"rate":\([0-9.]*\).*/\1/p'; }
declare -a nx ns
for round in 1 2 3; do
  nx+=("$(run natrix "$bin/natrix" 24222 | rates)")
  ns+=("$(run nats-server "$ref" 24223 | rates)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
a=$(median "${nx[@]}"); b=$(median "${ns[@]}")
printf '| server | JWT connections/s (median of 3, c=%s) |\n|---|---|\n| natrix | %.0f |\n| nats-server 2.9.10 | %.0f |\n| ratio | %.2fx |\n' \
  "$conc" "$a" "$b" "$(echo "$a / $b" | bc -l)"
