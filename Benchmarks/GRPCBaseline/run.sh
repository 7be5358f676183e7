#!/usr/bin/env bash
# Same-run baseline: grpc-swift-2 unary over HTTP/2 + TLS, one connection, at concurrency 64 and 1.
# Usage: ./run.sh            (env: PORT=50051 DURATION=6 WARMUP=2 OUT=results)
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-50051}
DURATION=${DURATION:-6}
WARMUP=${WARMUP:-2}
OUT=${OUT:-results}
mkdir -p "$OUT"

# Self-signed P-256 certificate for 127.0.0.1 (IP SAN); the client trusts it directly.
if [[ ! -f cert.pem || ! -f key.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout key.pem -out cert.pem -days 30 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
fi

swift build -c release
BIN="$(swift build -c release --show-bin-path)/grpc-baseline"

"$BIN" server --port "$PORT" --cert cert.pem --key key.pem >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  grep -q '^serving on' "$OUT/server.log" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.1
done
grep -q '^serving on' "$OUT/server.log" || { echo "server did not start"; exit 1; }
cat "$OUT/server.log"

for c in 64 1; do
  "$BIN" load --port "$PORT" --ca cert.pem --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" \
    --request-bytes 40 --server-pid "$SERVER_PID" --json "$OUT/grpc-c$c.json"
done
