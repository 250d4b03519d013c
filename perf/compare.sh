#!/usr/bin/env bash
# Side-by-side comparison of natrix and the reference nats-server on this machine.
#
#   perf/compare.sh [--quick] [--rounds N] [--tls-only]
#
# TLS scenarios (tlspubsub*, handshakes*) run against a second pair of servers with the
# same `tls {}` block (a P-256 certificate made with openssl for this run).
#
# Builds natrix and natrix-bench (release), starts both servers on 127.0.0.1 with
# equivalent settings, runs every scenario alternating A/B/A/B, takes the median of each
# figure, prints a ratio table and writes perf/results/<date>.md, .json and a
# request/reply latency plot (.svg). Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
quick=0
tls_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds="$2"; shift ;;
    --tls-only) tls_only=1 ;;
    *) echo "usage: $0 [--quick] [--rounds N] [--tls-only]" >&2; exit 2 ;;
  esac
  shift
done

export PATH="$PATH:/usr/sbin"
command -v nats-server >/dev/null || { echo "nats-server not found (apt-get install nats-server)" >&2; exit 1; }
cargo build --release --quiet --bin natrix --bin natrix-bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
NATRIX="$target_dir/release/natrix"
BENCH="$target_dir/release/natrix-bench"

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
out_dir=perf/results
mkdir -p "$out_dir"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import random,socket
for _ in range(50):
    p=random.randint(20000,32000); s=socket.socket()
    try: s.bind(("127.0.0.1",p)); s.close(); print(p); break
    except OSError: pass'; }

# A CA and a server certificate for localhost/127.0.0.1 (P-256), and the tls block.
command -v openssl >/dev/null || { echo "openssl not found (needed for the TLS scenarios)" >&2; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -keyout "$work/server-key.pem" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial -days 2 \
  -extfile "$work/ext.cnf" -out "$work/server.pem" 2>/dev/null
printf 'tls {\n  cert_file: "%s"\n  key_file: "%s"\n}\n' "$work/server.pem" "$work/server-key.pem" >"$work/tls.conf"

# start <natrix|nats-server> [tls]: sets $port and $pid
start() {
  port=$(free_port)
  local conf=()
  if [ "${2:-}" = tls ]; then conf=(-c "$work/tls.conf"); fi
  if [ "$1" = natrix ]; then
    "$NATRIX" -a 127.0.0.1 -p "$port" "${conf[@]}" >"$work/$1${2:-}.log" 2>&1 &
  else
    nats-server -a 127.0.0.1 -p "$port" "${conf[@]}" >"$work/$1${2:-}.log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$1 did not start" >&2; exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

if [ "$quick" = 1 ]; then s=1; m=1; else s=3; m=5; fi
# name | natrix-bench arguments | fresh server per run (memory scenarios)
scenarios=(
  "pub16|pub --size 16 --secs $s|0"
  "ingest16|ingest --secs $s|0"
  "pubsub16|pubsub --size 16 --msgs $((m * 1000000))|0"
  "pubsub128|pubsub --size 128 --msgs $((m * 600000))|0"
  "fanout4|fanout --size 128 --subs 4 --msgs $((m * 200000))|0"
  "fanout10|fanout --size 128 --subs 10 --msgs $((m * 100000))|0"
  "queue4|queue --subs 4 --msgs $((m * 400000))|0"
  "reqrep1|reqrep --secs $s|0"
  "reqrep8|reqrep --secs $s --concurrency 8|0"
  "wide100k|wide --secs $s --subs 100000|1"
  "conns|conns --subs $((m * 1000))|1"
  "subs1M|subs --subs $((quick == 1 ? 200000 : 1000000))|1"
)
tls_scenarios=(
  "tlspubsub16|pubsub --size 16 --msgs $((m * 600000))|0|tls"
  "tlspubsub128|pubsub --size 128 --msgs $((m * 400000))|0|tls"
  "handshakes1|handshakes --secs $s|0|tls"
  "handshakes4|handshakes --secs $s --concurrency 4|0|tls"
)
if [ "$tls_only" = 1 ]; then scenarios=("${tls_scenarios[@]}"); else scenarios+=("${tls_scenarios[@]}"); fi

results="$work/results.jsonl"
: >"$results"
for server in natrix nats-server; do
  if [ "$tls_only" = 0 ]; then start "$server"; eval "${server//-/_}_port=$port ${server//-/_}_pid=$pid"; fi
  start "$server" tls; eval "${server//-/_}_tls_port=$port ${server//-/_}_tls_pid=$pid"
done
for round in $(seq "$rounds"); do
  for entry in "${scenarios[@]}"; do
    IFS='|' read -r name args fresh tls <<<"$entry"
    extra=()
    if [ "$tls" = tls ]; then extra=(--tls-ca "$work/ca.pem"); fi
    for server in natrix nats-server; do
      var=${server//-/_}${tls:+_tls}
      if [ "$fresh" = 1 ]; then
        stop "$(eval echo \$${var}_pid)"; start "$server" $tls; eval "${var}_port=$port ${var}_pid=$pid"
      fi
      p=$(eval echo \$${var}_port); sp=$(eval echo \$${var}_pid)
      hist="$work/lat-$server-$name-$round.csv"
      # shellcheck disable=SC2086
      line=$("$BENCH" $args "${extra[@]}" --port "$p" --server-pid "$sp" --json --hist-out "$hist") || line='{"error":"failed"}'
      echo "{\"round\":$round,\"name\":\"$name\",\"server\":\"$server\",\"result\":$line}" >>"$results"
      printf '%-10s round %s %-12s %s\n' "$name" "$round" "$server" "$line" >&2
    done
  done
done
"$BENCH" ceiling --secs "$s" --json >"$work/ceiling.json"

# Latency plot from the last round's single-requester run.
[ "$tls_only" = 1 ] || "$BENCH" svg "natrix=$work/lat-natrix-reqrep1-$rounds.csv" "nats-server=$work/lat-nats-server-reqrep1-$rounds.csv" \
  >"$out_dir/$stamp-reqrep-latency.svg"

python3 - "$results" "$work/ceiling.json" "$out_dir/$stamp" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ceiling = json.load(open(sys.argv[2]))
out = sys.argv[3]
def fig(r, key):
    v = r["result"].get(key)
    try: return float(v)
    except (TypeError, ValueError): return None
# (name, what, key, higher_is_better)
metrics = [
  ("pub16", "msgs/s", "rate", True), ("ingest16", "msgs/s", "rate", True),
  ("pubsub16", "delivered msgs/s", "rate", True), ("pubsub16", "server CPU ns/msg", "server_cpu_ns_per_msg", False),
  ("pubsub128", "delivered msgs/s", "rate", True), ("pubsub128", "server CPU ns/msg", "server_cpu_ns_per_msg", False),
  ("fanout4", "delivered msgs/s", "rate", True), ("fanout10", "delivered msgs/s", "rate", True),
  ("queue4", "delivered msgs/s", "rate", True),
  ("reqrep1", "p50 µs", "p50_us", False), ("reqrep1", "p99 µs", "p99_us", False), ("reqrep1", "p99.9 µs", "p99.9_us", False),
  ("reqrep8", "requests/s", "rate", True), ("reqrep8", "p99 µs", "p99_us", False),
  ("wide100k", "published msgs/s", "rate", True),
  ("conns", "RSS bytes/conn", "rss_per_conn_bytes", False), ("subs1M", "RSS bytes/sub", "rss_per_sub_bytes", False),
  ("tlspubsub16", "delivered msgs/s", "rate", True), ("tlspubsub16", "server CPU ns/msg", "server_cpu_ns_per_msg", False),
  ("tlspubsub128", "delivered msgs/s", "rate", True), ("tlspubsub128", "server CPU ns/msg", "server_cpu_ns_per_msg", False),
  ("handshakes1", "connections/s", "rate", True), ("handshakes4", "connections/s", "rate", True),
]
metrics = [m for m in metrics if any(r["name"] == m[0] for r in rows)]
table, data = [], {}
for name, what, key, higher in metrics:
    med = {}
    for server in ("natrix", "nats-server"):
        vals = [fig(r, key) for r in rows if r["name"] == name and r["server"] == server]
        vals = [v for v in vals if v is not None]
        med[server] = statistics.median(vals) if vals else None
    a, b = med["natrix"], med["nats-server"]
    ratio = (a / b) if a is not None and b else None
    better = None if ratio is None else (ratio >= 1 if higher else ratio <= 1)
    table.append((name, what, a, b, ratio, "higher" if higher else "lower", better))
    data[f"{name}:{key}"] = {"natrix": a, "nats-server": b, "ratio": ratio, "better": "higher" if higher else "lower"}
def f(v):
    if v is None: return "n/a"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
lines = ["| scenario | figure | natrix | nats-server | ratio | better is |", "|---|---|---:|---:|---:|---|"]
for name, what, a, b, ratio, dirn, better in table:
    r = "n/a" if ratio is None else f"{ratio:.2f}x" + ("" if better else " (worse)")
    lines.append(f"| {name} | {what} | {f(a)} | {f(b)} | {r} | {dirn} |")
lines.append("")
lines.append(f"Ceiling (loopback socket that reads and discards the 16 B PUB stream): {float(ceiling['rate']):,.0f} msgs/s "
             f"({ceiling.get('MB_per_s', '?')} MB/s).")
md = "\n".join(lines)
print(md)
open(out + ".md", "w").write(md + "\n")
json.dump({"metrics": data, "ceiling": ceiling, "runs": rows}, open(out + ".json", "w"), indent=1)
PY
echo "wrote $out_dir/$stamp.md, .json (and -reqrep-latency.svg unless --tls-only)" >&2
