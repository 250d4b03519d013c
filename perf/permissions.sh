#!/usr/bin/env bash
# Cost of permissions on the hot path: pub->sub through natrix with no auth, against the
# same through a user holding 100 allow/deny rules (50 publish, 50 subscribe).
#   perf/permissions.sh [--rounds N] [--msgs N]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5; msgs=10000000
while [ $# -gt 0 ]; do
  case "$1" in --rounds) rounds="$2"; shift ;; --msgs) msgs="$2"; shift ;; *) echo "usage: $0 [--rounds N] [--msgs N]" >&2; exit 2 ;; esac
  shift
done
cargo build --release --quiet --bin natrix --bin natrix-bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
NATRIX="$target_dir/release/natrix"; BENCH="$target_dir/release/natrix-bench"
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# 25 allow + 25 deny rules in each direction; the benchmark subject is allowed by the last allow rule.
rules() { for i in $(seq 24); do printf '"%s.r%d.>", ' "$1" "$i"; done; printf '"bench.>"'; }
denies() { for i in $(seq 25); do printf '"deny.%s.%d.*"' "$1" "$i"; [ "$i" -lt 25 ] && printf ', '; done; }
cat >"$work/perms.conf" <<CONF
authorization {
  users: [
    {user: bench, password: pw, permissions: {
      publish: {allow: [$(rules p)], deny: [$(denies p)]}
      subscribe: {allow: [$(rules s)], deny: [$(denies s)]}
    }}
  ]
}
CONF

start() { # $1 = port, rest = args
  local port=$1; shift
  "$NATRIX" -a 127.0.0.1 -p "$port" "$@" >"$work/natrix-$port.log" 2>&1 &
  pids+=("$!"); last_pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.05; done
  echo "natrix did not start" >&2; exit 1
}
# One worker each: with two, whether publisher and subscriber share a worker is a coin
# flip per connection, which swamps the few percent measured here.
start 24411 --workers 1; plain_pid=$last_pid
start 24412 --workers 1 -c "$work/perms.conf"; perms_pid=$last_pid
: >"$work/plain.jsonl"; : >"$work/perms.jsonl"
for r in $(seq "$rounds"); do
  "$BENCH" pubsub --size 16 --msgs "$msgs" --port 24411 --server-pid "$plain_pid" --json >>"$work/plain.jsonl"
  "$BENCH" pubsub --size 16 --msgs "$msgs" --port 24412 --server-pid "$perms_pid" --user bench --pass pw --json >>"$work/perms.jsonl"
done
python3 - "$work/plain.jsonl" "$work/perms.jsonl" <<'PY'
import json, statistics, sys
def med(path, key):
    return statistics.median(float(json.loads(l)[key]) for l in open(path))
a, b = med(sys.argv[1], "rate"), med(sys.argv[2], "rate")
ca, cb = med(sys.argv[1], "server_cpu_ns_per_msg"), med(sys.argv[2], "server_cpu_ns_per_msg")
print("| pub->sub 16 B, median | no auth | 100 permission rules | cost |")
print("|---|---:|---:|---:|")
print(f"| delivered msgs/s | {a:,.0f} | {b:,.0f} | {100 * (1 - b / a):.1f}% |")
print(f"| server CPU ns/msg | {ca:.1f} | {cb:.1f} | {100 * (cb / ca - 1):.1f}% |")
PY
