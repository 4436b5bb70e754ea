#!/usr/bin/env bash
# Runs one fuzzing campaign, deterministically for a seed, and prints its summary:
#
#   Scripts/fuzz.sh CAMPAIGN [--iterations N] [--seed S] [--seconds T] [--start I] [--batch B]
#                   [--hang-seconds H] [--set KEY=VALUE ...]
#
# CAMPAIGN: guests-real, guests-long0, guests-long3, devices, devices-virtio, loader, generator, resources.
#
# The cases run in child processes (Tests/Fuzz, the `kvm-fuzz` executable), B cases per child, so that
# a crash of the code under test (a Swift trap, a signal) or a hang (a case running longer than H
# seconds, or a child that stops answering) ends only that child: this script saves the case that
# was running to .build/fuzz-failures/CAMPAIGN-SEED-ITERATION.json (its input, regenerated from the
# seed, and the command that replays it), counts it, and carries on with the next case. A case whose
# answer breaks an invariant is saved the same way by the child. Exit status: 0 when every case
# passed, 1 when any crashed, hung or broke an invariant, 2 for usage or setup errors.
#
# Testing the harness itself: --set inject-crash=I (case I traps) or --set inject-hang=I (case I
# never returns) must each be reported as one failing case, with the run carrying on after it.
#
# Environment: KVM_FUZZ_BIN (a built kvm-fuzz; default: build it with `swift build`),
# KVM_BINDGEN_BIN (the generator campaign's kvm-bindgen; default: build it).
set -uo pipefail

cd "$(dirname "$0")/.."
root=$PWD

usage() { echo "usage: Scripts/fuzz.sh CAMPAIGN [--iterations N] [--seed S] [--seconds T] [--start I] [--batch B] [--hang-seconds H] [--set KEY=VALUE]..." >&2; exit 2; }
[[ $# -ge 1 ]] || usage
campaign=$1; shift
iterations=""; seed=1; seconds=""; start=0; batch=""; hang=20; settings=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --iterations) iterations=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --start) start=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --hang-seconds) hang=$2; shift 2 ;;
        --set) settings+=(--set "$2"); shift 2 ;;
        *) usage ;;
    esac
done

case $campaign in
    guests-real|guests-long0|guests-long3) default_iterations=500; default_batch=1000 ;;
    devices|devices-virtio) default_iterations=300; default_batch=1000 ;;
    loader) default_iterations=300; default_batch=1000 ;;
    generator) default_iterations=20; default_batch=5 ;;
    # One process: open file descriptors and RSS are measured across all cycles.
    resources) default_iterations=1000; default_batch=100000000 ;;
    *) echo "fuzz.sh: unknown campaign '$campaign'" >&2; usage ;;
esac
if [[ -z $iterations ]]; then
    # --seconds alone: run until the time is up.
    if [[ -n $seconds ]]; then iterations=1000000000; else iterations=$default_iterations; fi
fi
batch=${batch:-$default_batch}

mkdir -p "$root/.build"
bin=${KVM_FUZZ_BIN:-}
if [[ -z $bin ]]; then
    swift build --product kvm-fuzz >/dev/null 2>"$root/.build/fuzz-build.log" || { cat "$root/.build/fuzz-build.log" >&2; echo "fuzz.sh: building kvm-fuzz failed" >&2; exit 2; }
    bin=$(swift build --show-bin-path)/kvm-fuzz
fi
if [[ $campaign == generator ]]; then
    bindgen=${KVM_BINDGEN_BIN:-}
    if [[ -z $bindgen ]]; then
        swift build --product kvm-bindgen >/dev/null 2>"$root/.build/fuzz-build.log" || { cat "$root/.build/fuzz-build.log" >&2; echo "fuzz.sh: building kvm-bindgen failed" >&2; exit 2; }
        bindgen=$(swift build --show-bin-path)/kvm-bindgen
    fi
    settings+=(--set "bindgen=$bindgen" --set "root=$root")
fi
if [[ $campaign == loader ]]; then settings+=(--set "root=$root"); fi
if [[ $campaign == resources ]]; then settings+=(--set "cycles=$iterations"); fi

failures=$root/.build/fuzz-failures
work=$root/.build/fuzz-work/$campaign-$seed-$$
mkdir -p "$failures" "$work"
trap 'rm -rf "$work"' EXIT

began=$(date +%s.%N)
deadline_args=()
if [[ -n $seconds ]]; then deadline_args=(--deadline "$(awk -v b="$began" -v s="$seconds" 'BEGIN { printf "%.3f", b + s }')"); fi

next=$start
end=$((start + iterations))
runs=0; crashes=0; hangs=0
while (( next < end )); do
    if [[ -n $seconds ]] && awk -v n="$(date +%s.%N)" -v b="$began" -v s="$seconds" 'BEGIN { exit !(n >= b + s) }'; then break; fi
    count=$(( end - next < batch ? end - next : batch ))
    results=$work/batch-$next.txt
    progress=$work/progress
    rm -f "$progress"
    # The child's own monitor ends a case that runs longer than $hang seconds (status 124); the
    # timeout here is the backstop for a child that cannot even do that.
    limit=$(( count * (hang + 1) + 60 ))
    [[ $limit -gt 86400 ]] && limit=86400
    timeout -s KILL "$limit" "$bin" run "$campaign" --seed "$seed" --start "$next" --count "$count" \
        --progress "$progress" --results "$results" --failures "$failures" --hang-seconds "$hang" \
        "${deadline_args[@]}" "${settings[@]}"
    status=$?
    batch_done=$(awk '$1 == "done" { print $2 }' "$results" 2>/dev/null)
    batch_done=${batch_done:-0}
    case $status in
        0|1)
            runs=$(( runs + batch_done ))
            next=$(( next + batch_done ))
            (( batch_done < count )) && break   # the deadline came first
            ;;
        2|3)
            echo "fuzz.sh: kvm-fuzz could not run $campaign (status $status)" >&2
            exit 2
            ;;
        *)
            iteration=$(tr -d ' \n' < "$progress" 2>/dev/null)
            iteration=${iteration:-$next}
            if (( status == 124 || status == 137 )); then
                kind=hang; hangs=$(( hangs + 1 ))
                what="the case ran longer than $hang s (status $status)"
            else
                kind=crash; crashes=$(( crashes + 1 ))
                what="the process died with status $status$( (( status > 128 )) && echo " (signal $(( status - 128 )))")"
            fi
            runs=$(( runs + iteration - next + 1 ))
            record=$failures/$campaign-$seed-$iteration.json
            input=$("$bin" describe "$campaign" --seed "$seed" --iteration "$iteration" "${settings[@]}" 2>/dev/null || echo null)
            cat > "$record" <<JSON
{"campaign": "$campaign", "seed": $seed, "iteration": $iteration, "kind": "$kind", "message": "$what",
 "batchStart": $next,
 "replay": "Scripts/fuzz.sh $campaign --seed $seed --start $iteration --iterations 1",
 "replayWithHistory": "Scripts/fuzz.sh $campaign --seed $seed --start $next --iterations $(( iteration - next + 1 ))",
 "input": ${input:-null}}
JSON
            echo "fuzz.sh: $kind in $campaign case $iteration (seed $seed): $what; saved $record" >&2
            next=$(( iteration + 1 ))
            ;;
    esac
done
elapsed=$(awk -v n="$(date +%s.%N)" -v b="$began" 'BEGIN { printf "%.1f", n - b }')

# Sum the batches: outcomes by key; figures summed, except mean-* (weighted by cases), max-*/slowest-*
# (maximum) and setting-*/first-*/last-* (the first or last batch's value).
cat "$work"/batch-*.txt 2>/dev/null > "$work/all.txt"
violations=$(awk '$1 == "violations" { sum += $2 } END { print sum + 0 }' "$work/all.txt")
distinct=$(awk '$1 == "outcome" { $1 = ""; $2 = ""; print }' "$work/all.txt" | sort -u | wc -l)
printf '%s: %d runs, %d crashes, %d hangs, %d distinct outcomes; %d invariant violations (seed %s, %s s)\n' \
    "$campaign" "$runs" "$crashes" "$hangs" "$distinct" "$violations" "$seed" "$elapsed"
awk '
    $1 == "done" { cases = $2 }
    $1 == "figure" {
        name = $2; value = $0; sub(/^figure [^ ]+ /, "", value)
        if (!(name in seen)) { order[++n] = name; seen[name] = 1 }
        if (name ~ /^mean-/) { sum[name] += value * cases; weight[name] += cases }
        else if (name ~ /^(max|slowest)-/) { if (!(name in val) || value + 0 > val[name] + 0) val[name] = value }
        else if (name ~ /^(setting|last)-/) { val[name] = value }
        else if (name ~ /^first-/) { if (!(name in val)) val[name] = value }
        else if (value ~ /^-?[0-9.]+$/) { val[name] += value }
        else { val[name] = value }
    }
    END {
        for (i = 1; i <= n; i++) {
            name = order[i]
            if (name ~ /^mean-/) printf "  %s %.0f\n", name, weight[name] ? sum[name] / weight[name] : 0
            else printf "  %s %s\n", name, val[name]
        }
    }' "$work/all.txt"
echo "  outcomes (count, key):"
awk '$1 == "outcome" { count = $2; $1 = ""; $2 = ""; sub(/^  /, ""); c[$0] += count } END { for (k in c) printf "    %7d  %s\n", c[k], k }' "$work/all.txt" | sort -rn
if (( crashes + hangs + violations > 0 )); then
    echo "$campaign: FAILED: failing cases are in $failures" >&2
    exit 1
fi
exit 0
