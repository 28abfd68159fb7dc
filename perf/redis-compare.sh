#!/usr/bin/env bash
# Compares the KeyValueServer sample with a real redis-server using redis-benchmark, in one run on this machine.
# Needs the Debian packages redis-server and redis-tools (installed when missing, as .ci/run does).
#
#   perf/redis-compare.sh                 # -n 1000000 -c 50 -d 16, pipeline 16 then 1, 3 alternating rounds each
#   REQUESTS=200000 ROUNDS=1 perf/redis-compare.sh
#   PIPELINES=1 HARNESS=0 perf/redis-compare.sh      # -P 1 only, without the load-harness comparison at the end
#   FLOORS=1 PIPELINES=1 HARNESS=0 perf/redis-compare.sh   # also two floors: the least a server can do to answer
#
# FLOORS=1 adds, in every round, the load harness's resp-floor servers: a bare Kestrel connection delegate with the
# transport settings TUNED=1 gives the sample, and bare .NET sockets. They answer SET, GET and PING with replies of the real size and
# store nothing, so they show what the transport and the runtime cost before any protocol work. With them the script
# also reports each server's CPU time per request (user and system, from /proc/<pid>/stat), less noisy than requests/s
# on a machine the client shares; to artifacts/redis-floors.csv.
#
# Prints requests/s per server per round and the median ratio sample / redis-server, and writes the same as CSV to
# artifacts/redis-compare.csv (the harness part to artifacts/redis-harness.csv). Persistence is off on redis-server
# (--save '' --appendonly no), as the sample has none.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-1000000}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-16}
ROUNDS=${ROUNDS:-3}
PIPELINES=${PIPELINES:-"16 1"}
REDIS_PORT=${REDIS_PORT:-16379}
SAMPLE_PORT=${SAMPLE_PORT:-16380}

missing=()
command -v redis-server > /dev/null || missing+=(redis-server)
command -v redis-benchmark > /dev/null || missing+=(redis-tools)
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

dotnet build samples/KeyValueServer -c Release -v quiet -nologo > /dev/null
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning &
redis_pid=$!
# The sample's handlers never block, so it runs them inline on Kestrel's socket threads (no thread-pool hop per batch):
# UnsafePreferInlineScheduling through --InlineScheduling, and inline socket completions. With a few busy connections
# it receives straight into a buffer (one receive call per request instead of a zero-byte wait and then the receive).
# Set TUNED=0 for defaults; EXTRA_ARGS adds sample settings.
if [ "${TUNED:-1}" = 1 ]; then
    DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 dotnet samples/KeyValueServer/bin/Release/net10.0/KeyValueServer.dll \
        --Url "tcp://127.0.0.1:$SAMPLE_PORT" --InlineScheduling true --WaitForDataBeforeAllocatingBuffer false ${EXTRA_ARGS:-} \
        --Logging:LogLevel:Default Warning > /dev/null &
else
    dotnet samples/KeyValueServer/bin/Release/net10.0/KeyValueServer.dll --Url "tcp://127.0.0.1:$SAMPLE_PORT" \
        --Logging:LogLevel:Default Warning > /dev/null &
fi
sample_pid=$!
floor_pids=()
ports=("$REDIS_PORT" "$SAMPLE_PORT")
trap 'kill $redis_pid $sample_pid "${floor_pids[@]}" 2> /dev/null || true; wait 2> /dev/null || true' EXIT

FLOOR_KESTREL_PORT=${FLOOR_KESTREL_PORT:-16381}
FLOOR_SOCKETS_PORT=${FLOOR_SOCKETS_PORT:-16382}
if [ "${FLOORS:-0}" = 1 ]; then
    dotnet build perf/PipelineServer.LoadTest -c Release -v quiet -nologo > /dev/null
    for transport in kestrel sockets; do
        if [ $transport = kestrel ]; then port=$FLOOR_KESTREL_PORT; else port=$FLOOR_SOCKETS_PORT; fi
        # The sample's runtime settings: inline socket completions, server GC.
        DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 DOTNET_gcServer=1 dotnet perf/PipelineServer.LoadTest/bin/Release/net10.0/PipelineServer.LoadTest.dll \
            resp-floor --transport $transport --port "$port" --size "$SIZE" > /dev/null &
        floor_pids+=($!)
        ports+=("$port")
    done
fi

for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do
        redis-cli -p "$port" ping > /dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -p "$port" ping > /dev/null
done

# One redis-benchmark run; prints "SET GET" requests per second.
bench() {
    redis-benchmark -h 127.0.0.1 -p "$1" -t set,get -n "$REQUESTS" -c "$CLIENTS" -P "$2" -d "$SIZE" -r 100000 -q --csv 2> /dev/null |
        awk -F'","' '/^"SET"/ { set = $2 } /^"GET"/ { get = $2 } END { printf "%s %s\n", set, get }'
}

# Warm the .NET servers' JIT (tiered compilation, through its instrumented tier) before anything is measured, pipelined
# and not, so the measured runs are not sharing the two cores with the JIT.
for port in "${ports[@]:1}"; do
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n 1000000 -c "$CLIENTS" -P 16 -q > /dev/null 2>&1
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n 100000 -c "$CLIENTS" -P 1 -q > /dev/null 2>&1
done

# A server's CPU time so far, user and system, in clock ticks.
cpu_ticks() {
    awk '{ print $14, $15 }' "/proc/$1/stat"
}

# One redis-benchmark run against a server whose pid is known: prints "SET GET user-µs system-µs", the last two the
# server's CPU time per request over the run.
bench_cpu() {
    local before after rps
    before=$(cpu_ticks "$3")
    rps=$(bench "$1" "$2")
    after=$(cpu_ticks "$3")
    echo "$rps $before $after" | awk -v n="$REQUESTS" -v hz="$(getconf CLK_TCK)" \
        '{ printf "%s %s %.2f %.2f\n", $1, $2, ($5 - $3) * 1e6 / hz / (2 * n), ($6 - $4) * 1e6 / hz / (2 * n) }'
}

# The median of the numbers on standard input, one per line (the lower one of an even count's middle two).
median() {
    sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

mkdir -p artifacts
csv=artifacts/redis-compare.csv
echo "pipeline,round,command,redis_rps,sample_rps,ratio" > "$csv"
floors_csv=artifacts/redis-floors.csv
if [ "${FLOORS:-0}" = 1 ]; then
    echo "pipeline,round,server,set_rps,get_rps,set_ratio,get_ratio,user_us_per_request,system_us_per_request" > "$floors_csv"
fi
for pipeline in $PIPELINES; do
    for round in $(seq 1 "$ROUNDS"); do
        if [ "${FLOORS:-0}" = 1 ]; then
            # The same order every round: redis-server, the two floors, the sample; each server's CPU time measured.
            read -r redis_set redis_get redis_user redis_system < <(bench_cpu "$REDIS_PORT" "$pipeline" "$redis_pid")
            rows=("redis-server $redis_set $redis_get $redis_user $redis_system")
            read -r s g u y < <(bench_cpu "$FLOOR_KESTREL_PORT" "$pipeline" "${floor_pids[0]}")
            rows+=("floor-kestrel $s $g $u $y")
            read -r s g u y < <(bench_cpu "$FLOOR_SOCKETS_PORT" "$pipeline" "${floor_pids[1]}")
            rows+=("floor-sockets $s $g $u $y")
            read -r sample_set sample_get u y < <(bench_cpu "$SAMPLE_PORT" "$pipeline" "$sample_pid")
            rows+=("sample $sample_set $sample_get $u $y")
            for row in "${rows[@]}"; do
                echo "$row" | awk -v p="$pipeline" -v r="$round" -v rs="$redis_set" -v rg="$redis_get" -v csv="$floors_csv" '{
                    printf "%s,%s,%s,%s,%s,%.3f,%.3f,%s,%s\n", p, r, $1, $2, $3, $2 / rs, $3 / rg, $4, $5 >> csv
                    printf "P=%-3s round %s  %-13s SET %10s  GET %10s  ratio %.3f / %.3f  CPU per request: user %5s us, system %5s us\n", p, r, $1, $2, $3, $2 / rs, $3 / rg, $4, $5 }'
            done
        else
            read -r redis_set redis_get < <(bench "$REDIS_PORT" "$pipeline")
            read -r sample_set sample_get < <(bench "$SAMPLE_PORT" "$pipeline")
        fi
        for command in SET GET; do
            if [ $command = SET ]; then r=$redis_set; s=$sample_set; else r=$redis_get; s=$sample_get; fi
            ratio=$(awk -v s="$s" -v r="$r" 'BEGIN { printf "%.3f", s / r }')
            echo "$pipeline,$round,$command,$r,$s,$ratio" >> "$csv"
            printf 'P=%-3s round %s  %-3s  redis-server %12s  sample %12s  ratio %s\n' "$pipeline" "$round" "$command" "$r" "$s" "$ratio"
        done
    done
done

echo
echo "median ratio sample / redis-server:"
for pipeline in $PIPELINES; do
    for command in SET GET; do
        median=$(awk -F, -v p="$pipeline" -v c="$command" '$1 == p && $3 == c { print $6 }' "$csv" | median)
        printf '  -P %-3s %-3s %s\n' "$pipeline" "$command" "$median"
    done
done

if [ "${FLOORS:-0}" = 1 ]; then
    echo
    echo "medians per server: ratio to redis-server SET / GET, CPU per request user + system (us):"
    for pipeline in $PIPELINES; do
        for server in redis-server floor-kestrel floor-sockets sample; do
            line=""
            for column in 6 7 8 9; do
                line="$line $(awk -F, -v p="$pipeline" -v s="$server" -v c="$column" '$1 == p && $3 == s { print $c }' "$floors_csv" | median)"
            done
            echo "$line" | awk -v p="$pipeline" -v s="$server" '{ printf "  -P %-3s %-13s %s / %s   user %s + system %s\n", p, s, $1, $2, $3, $4 }'
        done
    done
fi

# Is the load harness a bottleneck? It runs its continuations inline on socket threads (--inline with inline socket
# completions), as redis-benchmark answers on its one event loop; its defaults hop to the thread pool per response.
# Its resp scenario against redis-server, next to redis-benchmark with the same connections and pipeline depth (the
# harness mixes SET and GET 50/50; redis-benchmark runs them one after the other).
# --batch sends each pipeline whole and waits for all its replies, as redis-benchmark -P does (like for like); the
# harness's default keeps every pipeline full, refilling as each reply arrives. At -P 1 the two are the same schedule.
if [ "${HARNESS:-1}" != 1 ]; then exit 0; fi
echo
echo "load harness (resp scenario) against redis-server, -c $CLIENTS -d $SIZE, $ROUNDS alternating rounds:"
dotnet build perf/PipelineServer.LoadTest -c Release -v quiet -nologo > /dev/null
harness_csv=artifacts/redis-harness.csv
echo "pipeline,mode,round,harness_rps,benchmark_rps,ratio" > "$harness_csv"
for pipeline in $PIPELINES; do
    for mode in batch continuous; do
        flag=""
        if [ $mode = batch ]; then flag="--batch"; fi
        for round in $(seq 1 "$ROUNDS"); do
            DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 dotnet run -c Release --no-build --project perf/PipelineServer.LoadTest -- \
                resp --target "tcp://127.0.0.1:$REDIS_PORT" -c "$CLIENTS" -p "$pipeline" -s "$SIZE" -d 5s -w 3s $flag --inline \
                --json "artifacts/redis-harness-p$pipeline-$mode.json" > /dev/null
            harness=$(grep -o '"requestsPerSecond": *[0-9.]*' "artifacts/redis-harness-p$pipeline-$mode.json" | head -1 | grep -o '[0-9.]*$')
            read -r redis_set redis_get < <(bench "$REDIS_PORT" "$pipeline")
            benchmark=$(awk -v s="$redis_set" -v g="$redis_get" 'BEGIN { printf "%.0f", (s + g) / 2 }')
            ratio=$(awk -v h="$harness" -v b="$benchmark" 'BEGIN { printf "%.3f", h / b }')
            echo "$pipeline,$mode,$round,$harness,$benchmark,$ratio" >> "$harness_csv"
            printf '  -P %-3s %-10s round %s  harness %10.0f req/s   redis-benchmark (SET+GET)/2 %10s req/s   ratio %s\n' \
                "$pipeline" "$mode" "$round" "$harness" "$benchmark" "$ratio"
        done
        median=$(awk -F, -v p="$pipeline" -v m="$mode" '$1 == p && $2 == m { print $6 }' "$harness_csv" | median)
        printf '  -P %-3s %-10s median ratio harness / redis-benchmark %s\n' "$pipeline" "$mode" "$median"
    done
done
