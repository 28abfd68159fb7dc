#!/usr/bin/env bash
# Issue 16's scenario, the KeyValueServer sample next to redis-server: connections that buffer half a million
# arguments of a "*1048576" command and then trickle one argument every 5 ms. Reports each server's CPU seconds over
# the trickle and a fresh PING's round trip (perf/resp-trickle.py). Everything runs on 127.0.0.1.
#
#   perf/resp-trickle.sh                        # 1 connection, then 16; 20 s each
#   CONNECTIONS="1" SECONDS_EACH=10 perf/resp-trickle.sh
#   SAMPLE_DLL=/elsewhere/KeyValueServer.dll perf/resp-trickle.sh     # another build of the sample (before/after)
#
# Needs the Debian package redis-server for the reference row (skipped when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-"1 16"}
SECONDS_EACH=${SECONDS_EACH:-20}
ARGS=${ARGS:-500000}
SAMPLE_PORT=${SAMPLE_PORT:-16390}
REDIS_PORT=${REDIS_PORT:-16391}

if [ -z "${SAMPLE_DLL:-}" ]; then
    dotnet build samples/KeyValueServer -c Release -v quiet -nologo > /dev/null
    SAMPLE_DLL=samples/KeyValueServer/bin/Release/net10.0/KeyValueServer.dll
fi

server_pid=""
trap 'if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null || true; wait "$server_pid" 2> /dev/null || true; fi' EXIT

wait_for_port() {
    for _ in $(seq 1 100); do
        if (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

run() { # name port command...
    local name=$1 port=$2
    shift 2
    for connections in $CONNECTIONS; do
        "$@" > /dev/null 2>&1 &
        server_pid=$!
        wait_for_port "$port"
        echo -n "$name: "
        python3 perf/resp-trickle.py --port "$port" --pid "$server_pid" --connections "$connections" --args "$ARGS" --seconds "$SECONDS_EACH"
        kill "$server_pid"
        wait "$server_pid" 2> /dev/null || true
        server_pid=""
    done
}

run sample "$SAMPLE_PORT" dotnet "$SAMPLE_DLL" --Url "tcp://127.0.0.1:$SAMPLE_PORT" --Logging:LogLevel:Default Warning
if command -v redis-server > /dev/null; then
    run redis-server "$REDIS_PORT" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning
fi
