#!/usr/bin/env bash
# OpenSSL's memory BIOs: slicing writes and reads vs trimming the buffer afterwards (see memory-bio.c).
# Usage: ./run.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-.build}
mkdir -p "$OUT"
if [[ ! -f "$OUT/cert.pem" || ! -f "$OUT/key.pem" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$OUT/key.pem" -out "$OUT/cert.pem" -days 30 -subj "/CN=localhost" 2>/dev/null
fi
cc -O2 -o "$OUT/memory-bio" memory-bio.c $(pkg-config --cflags --libs openssl)
"$OUT/memory-bio" "$OUT/cert.pem" "$OUT/key.pem" "${1:-3}"
