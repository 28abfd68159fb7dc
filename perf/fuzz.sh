#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser the framework ships, with afl-fuzz and SharpFuzz.
#
#   perf/fuzz.sh [seconds-per-target] [targets...]      e.g. perf/fuzz.sh 60, perf/fuzz.sh 1800 resp-value proxy
#
# Installs afl++ (Debian package) when missing and SharpFuzz.CommandLine from the local tool manifest, publishes
# tests/PipelineServer.Fuzz in Release, instruments only our libraries in that output, then runs afl-fuzz on each target
# for the given time (default 60 s). Findings land in artifacts/fuzz/<target>/; each crashing or hanging input is
# copied to tests/PipelineServer.Fuzz/regressions/<target>/, where FuzzCorpusTests replays it. Exits 1 when any target
# found a crash or a hang, 2 when a fuzzer could not run. Environment: FUZZ_EXEC_TIMEOUT_MS (per-execution timeout,
# default 5000; an input that runs longer is a hang).
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(length-field delimiter fixed varint resp-value resp-command proxy)
seconds="${1:-60}"
if [ $# -gt 0 ]; then shift; fi
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: perf/fuzz.sh [seconds-per-target] [${all_targets[*]}]" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=("${all_targets[@]}"); fi
for target in "${targets[@]}"; do
    if [[ " ${all_targets[*]} " != *" $target "* ]]; then
        echo "unknown target '$target'; targets: ${all_targets[*]}" >&2
        exit 2
    fi
done
exec_timeout="${FUZZ_EXEC_TIMEOUT_MS:-5000}"

if ! command -v afl-fuzz > /dev/null; then
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++
fi
dotnet tool restore > /dev/null

project=tests/PipelineServer.Fuzz
out=artifacts/fuzz
bin="$out/bin"
rm -rf "$bin"
mkdir -p "$out"
# Publish to a directory of our own: sharpfuzz rewrites assemblies in place, and build outputs are shared with the tests.
dotnet publish "$project/PipelineServer.Fuzz.csproj" -c Release -o "$bin" --nologo -v quiet
for library in PipelineServer.Protocols PipelineServer.Resp PipelineServer; do
    dotnet sharpfuzz "$bin/$library.dll"
done

# afl-fuzz runs `dotnet`, which carries no afl instrumentation (the coverage comes from the rewritten libraries through
# SharpFuzz's fork server), hence AFL_SKIP_BIN_CHECK. The rest suits a container: no CPU governor or core_pattern to
# tune, no terminal UI, no CPU pinning on a shared machine, and time for the .NET runtime to start the fork server.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_FORKSRV_INIT_TMOUT=60000 AFL_NO_CRASH_README=1

stat() { sed -n "s/^$1 *: *//p" "$2" 2> /dev/null | head -n 1; }

status=0
summary=()
for target in "${targets[@]}"; do
    findings="$out/$target"
    rm -rf "$findings"
    dictionary=()
    case "$target" in
        resp-*) dictionary=(-x "$project/dictionaries/resp.dict") ;;
        proxy) dictionary=(-x "$project/dictionaries/proxy.dict") ;;
    esac

    echo "== $target: ${seconds}s" >&2
    started=$(date +%s)
    # -V bounds the fuzzing time; the outer timeout only guards against a fuzzer that never gets going.
    timeout -s INT -k 30 $((seconds + 300)) \
        afl-fuzz -i "$project/corpus/$target" -o "$findings" -t "$exec_timeout" -m none -V "$seconds" "${dictionary[@]}" \
        -- dotnet "$bin/PipelineServer.Fuzz.dll" "$target" > "$out/$target.log" 2>&1 || true
    elapsed=$(($(date +%s) - started))

    stats="$findings/default/fuzzer_stats"
    if [ ! -f "$stats" ]; then
        echo "afl-fuzz did not run for $target; the end of $out/$target.log:" >&2
        tail -n 20 "$out/$target.log" >&2
        summary+=("$(printf '%-13s %6s %10s %8s %7s %8s %6s' "$target" "-" "-" "-" "-" "-" "-") afl-fuzz failed")
        status=2
        continue
    fi

    crashes=0
    hangs=0
    for kind in crashes hangs; do
        for file in "$findings/default/$kind"/id:*; do
            [ -e "$file" ] || continue
            mkdir -p "$project/regressions/$target"
            name="${kind%es}"; name="${name%s}-$(sha1sum "$file" | cut -c1-12)"
            cp "$file" "$project/regressions/$target/$name"
            if [ "$kind" = crashes ]; then crashes=$((crashes + 1)); else hangs=$((hangs + 1)); fi
        done
    done
    if [ $((crashes + hangs)) -gt 0 ] && [ "$status" -eq 0 ]; then status=1; fi

    summary+=("$(printf '%-13s %6s %10s %8s %7s %8s %6s' "$target" "${elapsed}s" "$(stat execs_done "$stats")" \
        "$(stat execs_per_sec "$stats")" "$(stat corpus_count "$stats")" "$crashes" "$hangs")")
done

echo
printf '%-13s %6s %10s %8s %7s %8s %6s\n' target time execs exec/s corpus crashes hangs
printf '%s\n' "${summary[@]}"
if [ "$status" -eq 1 ]; then
    echo "Crashing and hanging inputs were copied to $project/regressions/<target>/; replay one with" \
        "dotnet $bin/PipelineServer.Fuzz.dll <target> < <file>, fix the parser, and commit the input with the fix."
fi
exit "$status"
