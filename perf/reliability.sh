#!/usr/bin/env bash
# Scale, slow-peer and churn measurements of the echo sample (framework) and a bare Kestrel handler (baseline), each
# server in its own process, measured from /proc: `reliability idle`, `slow-reader` and `churn` of the load harness
# (docs/load-testing.md). Linux only. About 6 minutes with the defaults.
#
#   perf/reliability.sh                  # all three runs for both servers; JSON in artifacts/reliability/, a summary table
#   perf/reliability.sh --docs           # the same, then rewrite the figures block of docs/reliability.md
#   perf/reliability.sh --docs-only      # rewrite the figures block from the JSON already in artifacts/reliability/
#   CONNECTIONS=2000 CHURN_DURATION=10s SERVERS=framework perf/reliability.sh    # a quicker look
#
# Exit status: 0 when every run passed its checks (every echo verified, no errors, slow peers closed by the write
# timeout, bounded memory, descriptors back after churn); otherwise 1, after all runs, naming the ones that failed.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-10000}
SLOW_DURATION=${SLOW_DURATION:-20s}
WRITE_TIMEOUT=${WRITE_TIMEOUT:-5s}
COOLDOWN=${COOLDOWN:-25s}
CHURN_DURATION=${CHURN_DURATION:-60s}
SERVERS=${SERVERS:-"framework baseline"}
OUT=${OUT:-artifacts/reliability}

mode=run
case "${1:-}" in
    "") ;;
    --docs) mode=docs ;;
    --docs-only) mode=docs-only ;;
    *) echo "usage: $0 [--docs|--docs-only]" >&2; exit 2 ;;
esac

harness_dll=perf/PipelineServer.LoadTest/bin/Release/net10.0/PipelineServer.LoadTest.dll
harness() { dotnet "$harness_dll" "$@"; }

docs=docs/reliability.md

if [ "$mode" != docs-only ]; then
    # The harness holds one descriptor per client connection and the server one per accepted connection, each in its
    # own process: each needs CONNECTIONS plus a few hundred for the runtime.
    need=$((CONNECTIONS + 1024))
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
        echo "error: $CONNECTIONS connections need at least $need open files per process, but the hard limit (ulimit -Hn) is $hard." >&2
        echo "       Raise it (as root: ulimit -Hn 65536; in Docker: --ulimit nofile=65536:65536; systemd: LimitNOFILE=65536)," >&2
        echo "       or run fewer: CONNECTIONS=$((hard - 1024)) $0" >&2
        exit 2
    fi
    soft=65536
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$soft" ]; then soft=$hard; fi
    ulimit -n "$soft"
    echo "open files: soft $(ulimit -n), hard $hard"

    dotnet build perf/PipelineServer.LoadTest -c Release -v quiet -nologo > /dev/null
    mkdir -p "$OUT"
    rm -f "$OUT"/*.json

    failed=()
    run() {
        local name=$1
        shift
        echo
        echo "== $name: $*"
        if ! harness reliability "$@" --json "$OUT/$name.json"; then
            failed+=("$name")
        fi
    }

    for server in $SERVERS; do
        run "idle-$server" idle --server "$server" --connections "$CONNECTIONS"
    done
    for server in $SERVERS; do
        # The baseline has no write timeout: its slow peers are reported open, which is not a failure.
        run "slow-reader-$server" slow-reader --server "$server" --duration "$SLOW_DURATION" --write-timeout "$WRITE_TIMEOUT" --cooldown "$COOLDOWN"
    done
    for server in $SERVERS; do
        run "churn-$server" churn --server "$server" --duration "$CHURN_DURATION"
    done

    # The pass/fail figures of docs/reliability.md: SIGTERM under load (0 lost), the file-descriptor limit, hostile input.
    echo
    echo "== faults, shutdown and hostile input (tests/PipelineServer.Tests/Reliability)"
    if ! dotnet test tests/PipelineServer.Tests -c Release --nologo -v quiet --filter "FullyQualifiedName~PipelineServer.Tests.Reliability" 2>&1 | tail -n 3; then
        failed+=("reliability-tests")
    fi
fi

echo
note="$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2> /dev/null || echo unknown), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), .NET $(dotnet --version); harness and server on the same machine over loopback"
if [ "$mode" = run ]; then
    harness reliability summary --dir "$OUT"
else
    dotnet build perf/PipelineServer.LoadTest -c Release -v quiet -nologo > /dev/null
    harness reliability summary --dir "$OUT" --markdown "$docs" --note "$note"
fi

if [ "$mode" != docs-only ] && [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
