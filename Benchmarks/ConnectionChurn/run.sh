#!/bin/bash
# Connection churn: numberd's RSS after each of four batches of COUNT connections opened and closed. A closed
# connection must leave nothing behind: after the allocator's first batches, RSS stays flat.
# usage: run.sh NUMBERD_BINARY [COUNT=3000] [tls|tcp]
set -eu
binary=$1; count=${2:-3000}; mode=${3:-tls}
here=$(cd "$(dirname "$0")" && pwd)
data=$(mktemp -d /tmp/numberd-churn-XXXX)
"$binary" serve --data-dir "$data" --listen 127.0.0.1:17444 --metrics-listen off --log-level error &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
    [ -f "$data/tls/ca.pem" ] && (exec 3<>/dev/tcp/127.0.0.1/17444) 2>/dev/null && break
    sleep 0.2
done
for batch in 1 2 3 4; do
    python3 "$here/churn.py" 17444 "$count" "$data/tls/ca.pem" "$mode"
    sleep 1
    echo "batch $batch ($count $mode connections): RSS $(awk '/VmRSS/ {print $2}' /proc/$pid/status) KiB"
done
