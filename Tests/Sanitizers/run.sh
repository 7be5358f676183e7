#!/usr/bin/env bash
# A sanitizer over numberd's concurrent paths, the way they run in production: `thread` (ThreadSanitizer, the
# default) or `address` (AddressSanitizer: out-of-bounds, use-after-free, double free in the code that handles
# pointers — the OpenSSL memory BIOs, libcurl's callbacks, the codec's buffers). It runs the core under 64
# concurrent purchasers with group commit (CoreBenchmark), then numberd (server, core, file store,
# billing/reconcile/snapshot passes every few seconds, the in-process Twilio simulator over libcurl) driven by
# numbers-load (the client library): a mixed load, a load while journal writes find no room half a second in two
# (the file size limit lowered with prlimit), a load whose deadlines cancel most calls mid-way, and 300 new TLS
# connections, then trunk changes racing each other, releases and reconciliation; then a graceful stop. Exits 1 when
# the sanitizer reports anything (the reports are printed), 0 when clean.
#
#   bash Tests/Sanitizers/run.sh [thread|address]
#
# The test targets cannot be built with a sanitizer (Swift Testing's @Test records need compile-time constants that
# the instrumented build does not give), so this drives the products instead. Swift's Synchronization.Mutex hands a
# contended lock over inside its library, which TSan cannot see: tsan-mutex.c, preloaded, tells it (without it every
# access under a contended Mutex is a false report).
#
# Takes ~10 minutes on 2 cores from a clean build folder (.build-tsan / .build-asan), ~2 after. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
sanitizer=${1:-thread}
case "$sanitizer" in
thread) scratch=.build-tsan init=__tsan_init ;;
address) scratch=.build-asan init=__asan_init ;;
*) echo "usage: $0 [thread|address]"; exit 2 ;;
esac
build_log=$(mktemp)
for product in numberd numbers-load numbers CoreBenchmark; do
    # A failed build must not leave the last good binaries to be tested in its place.
    swift build --sanitize="$sanitizer" --scratch-path "$scratch" --product "$product" >"$build_log" 2>&1 ||
        { cat "$build_log"; echo "the --sanitize=$sanitizer build of $product failed"; exit 1; }
    tail -1 "$build_log"
done
rm -f "$build_log"
bin=$scratch/debug
nm -D "$bin/numberd" | grep " $init\$" >/dev/null || { echo "$bin/numberd is not built with --sanitize=$sanitizer"; exit 1; }
work=$(mktemp -d "/tmp/numberd-$sanitizer.XXXXXX")
echo "run folder: $work"
failures=()
failed() { failures+=("$1 exited with status $2"); }
if [ "$sanitizer" = thread ]; then
    "${CC:-cc}" -O1 -shared -fPIC -o "$work/libtsan-mutex.so" Tests/Sanitizers/tsan-mutex.c -ldl
    run() { LD_PRELOAD="$work/libtsan-mutex.so" TSAN_OPTIONS="halt_on_error=0 history_size=4 log_path=$work/report" exec "$@"; }
else
    # Leaks are not looked for: the Swift runtime's own (metadata caches, the cooperative pool) would drown them.
    run() { ASAN_OPTIONS="detect_leaks=0 log_path=$work/report" exec "$@"; }
fi

echo "== core: 1, 8 and 64 purchasers, journal replay"
(run "$bin/CoreBenchmark" --seconds 3 --purchasers 1,8,64 --numbers 0 --replay-purchases 500) >"$work/core.out" ||
    failed "CoreBenchmark" $?

echo "== numberd under load"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
address=127.0.0.1:$port
run "$bin/numberd" serve --data-dir "$work/data" --listen "$address" --metrics-listen off \
    --rate-limit 100000000 --purchase-cap 100000000 --billing-interval 3 --reconcile-interval 3 \
    --snapshot-interval 5 --log-level notice >"$work/numberd.out" 2>"$work/numberd.err" &
server=$!  # numberd itself: `run` execs it in the background subshell
for _ in $(seq 1 300); do grep -q 'serving nrpc/1' "$work/numberd.out" 2>/dev/null && break; sleep 0.2; done
grep -q 'serving nrpc/1' "$work/numberd.out" || { echo "numberd did not start"; cat "$work/numberd.err"; exit 1; }
load=(--server "$address" --data-dir "$work/data")
(run "$bin/numbers-load" run "${load[@]}" --quiet --mix search=1,purchase=3,list=3,get=2,balance=2 --connections 2 \
    --concurrency 8 --duration 30 --warmup 2 --accounts 4 --timeout-ms 30000) >"$work/mixed.out" || failed "mixed load" $?
# Writes that find no room while the load runs: the soft file size limit of numberd (and of its in-process simulator)
# drops to 1 byte for half a second in every two, so journal writes are refused (EFBIG), cut off and rolled back while
# purchases, credits and reads race them. Errors are expected here; numberd must keep serving (the phases after this
# one need it) and the sanitizer must stay quiet.
(run "$bin/numbers-load" run "${load[@]}" --quiet --mix purchase=4,list=2,balance=2 --connections 2 \
    --concurrency 8 --duration 16 --warmup 1 --accounts 4 --timeout-ms 30000) >"$work/noroom.out" &
noroom=$!
for _ in $(seq 1 8); do
    sleep 1.5
    prlimit --pid "$server" --fsize=1: 2>/dev/null || true
    sleep 0.5
    prlimit --pid "$server" --fsize=unlimited: 2>/dev/null || true
done
wait "$noroom" || true
grep -q 'STORE_FULL' "$work/noroom.out" || echo "note: the no-room phase saw no STORE_FULL (load too light?)"
# Deadlines shorter than most calls take under TSan: cancellations race completions everywhere. Most calls fail here
# (DEADLINE_EXCEEDED), which numbers-load's exit status would otherwise count against the run (exit 3): the run must
# still send calls and have some OK, and settle everything it made.
(run "$bin/numbers-load" run "${load[@]}" --quiet --mix search=1,purchase=3,list=3,get=2,balance=2 --connections 4 \
    --concurrency 16 --duration 20 --warmup 1 --accounts 8 --owned-numbers 1 --timeout-ms 60 \
    --max-error-fraction 1) >"$work/deadlines.out" || failed "deadline load" $?
(run "$bin/numbers-load" connections "${load[@]}" --count 300 --concurrency 32 --hold 1) >"$work/connections.out" ||
    failed "connections" $?
# Trunk changes racing each other, releases and trunk deletions of the same numbers while reconciliation passes run
# (every 3 s): the claims and the in-memory holds of a change (`Local.routing`, `routesEnded`, `unsettledRoutes`)
# under concurrent calls. Refusals ("in progress", TRUNK_IN_USE) are expected; numberd must keep serving.
echo "== trunk changes racing"
(
    export NUMBERD_DATA_DIR="$work/data" NUMBERS_SERVER="$address"
    cli() { run "$bin/numbers" "$@"; }
    account=$( (cli accounts create --name trunks) | grep -o 'ACC_[a-z0-9]*' | head -1)
    export NUMBERS_ACCOUNT=$account
    (cli funds add 100.00 --currency USD) >/dev/null 2>&1
    trunks=()
    for name in a b c; do
        trunks+=("$( (cli trunks create --name "$name" --origination "sip:$name.example.com") 2>/dev/null |
            grep -o 'TRK_[a-z0-9]*' | head -1)")
    done
    numbers=()
    for phone in $( (cli search --country US --area-code 415 --limit 4) | grep -o '+1[0-9]*'); do
        numbers+=("$( (cli buy "$phone" --currency USD) 2>/dev/null | grep -o 'NUM_[a-z0-9]*' | head -1)")
    done
    for round in $(seq 1 12); do
        for number in "${numbers[@]}"; do
            (cli trunk assign "$number" "${trunks[$(((round + ${#number}) % 3))]}") >/dev/null 2>&1 &
            (cli trunk assign "$number" "${trunks[$((round % 3))]}") >/dev/null 2>&1 &
        done
        [ "$round" = 6 ] && (cli trunk unassign "${numbers[0]}") >/dev/null 2>&1 &
        [ "$round" = 9 ] && (cli release "${numbers[1]}" --yes) >/dev/null 2>&1 &
        [ "$round" = 11 ] && (cli trunks delete "${trunks[2]}") >/dev/null 2>&1 &
        wait
    done
    (cli list) >"$work/trunks.out" 2>&1
) || failed "trunk changes" $?
grep -q 'NUM_' "$work/trunks.out" || failed "trunk changes (no numbers listed at the end)" 1
kill -INT "$server" 2>/dev/null || true  # gone already if the sanitizer ended it
status=0
wait "$server" || status=$?
# 66: TSan's own exit status when it reported (the reports are shown below); ASan ends the process at its first.
[ "$status" = 0 ] || [ "$status" = 66 ] || failed "numberd" "$status"
grep -h 'total ' "$work/mixed.out" "$work/deadlines.out" || true

reports=$(find "$work" -name 'report.*' | sort)
if [ -n "$reports" ]; then
    echo "--sanitize=$sanitizer reported (see $work):"
    cat $reports
    exit 1
fi
if [ ${#failures[@]} -gt 0 ]; then
    printf '%s\n' "${failures[@]}"
    tail -20 "$work/numberd.err"
    exit 1
fi
echo "--sanitize=$sanitizer: no reports"
