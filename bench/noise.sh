#!/usr/bin/env bash
# Keeps under noise: runs the noisy fixture (fixtures/noisy: 2% Gaussian noise
# per run; twelve knobs, seven with no effect, gains of 3%, 4% and 5%, one of
# 1%, one 2% slowdown) N times from scratch, the hypotheses in a new order
# each time, with the fixed protocol (repeat_count 5, median, threshold 1%)
# and with `method: statistical` (relative_threshold 0.5%, confidence 0.95,
# max_samples 24), side by side, and prints for each the share of each kind
# of knob that was kept and the measurements spent per experiment (all of
# them: baseline, candidates, incumbent re-measurements, combinations).
#
#   bash bench/noise.sh [RUNS]      (default 40 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-40}
source bench/common.sh
fixture=$PWD/fixtures/noisy

# Which knob is which (measure.sh holds the same table).
class() {
    case $1 in
    k0[1-7]) echo none ;;
    k08 | k09 | k10) echo gain ;;
    k11) echo small ;;
    k12) echo slowdown ;;
    esac
}

declare -A kept total measurements experiments
for method in fixed statistical statistical2 statistical4; do
    for kind in none gain small slowdown; do
        kept[$method.$kind]=0
        total[$method.$kind]=0
    done
    measurements[$method]=0
    experiments[$method]=0
done

for ((r = 1; r <= runs; r++)); do
    dir=$work/run-$r
    cp -r "$fixture" "$dir"
    # A new order each run, so batches mix the knobs differently.
    awk 'NR > 1' "$fixture/hypotheses.yaml" | paste - - - - - | shuf | tr '\t' '\n' \
        > "$dir/hypotheses.yaml"
    # The statistical method with 1, 2 and 4 measurements at once.
    for slots in 1 2 4; do
        suffix=$slots
        [ "$slots" = 1 ] && suffix=
        sed -e "s/^name: noisy-statistical$/name: noisy-statistical$suffix/" \
            -e "s/^  timeout_seconds: 30$/  timeout_seconds: 30\n  max_concurrent: $slots/" \
            "$fixture/statistical.yaml" > "$dir/statistical$suffix.yaml"
    done
    (cd "$dir" && git init -q -b main && git add -A &&
        git -c user.name=bench -c user.email=bench@localhost commit -qm noisy)
    for method in fixed statistical statistical2 statistical4; do
        (cd "$dir" && "$bin" "$method.yaml" --quiet > /dev/null)
        name=noisy-$method
        status=$(cd "$dir" && "$bin" status "$method.yaml" --json)
        m=$(printf '%s' "$status" | sed -n 's/^  "measurements": \([0-9]*\),*$/\1/p')
        e=$(printf '%s' "$status" | sed -n 's/^  "experiments": \([0-9]*\),*$/\1/p')
        measurements[$method]=$((measurements[$method] + m))
        experiments[$method]=$((experiments[$method] + e))
        for i in $(seq -w 1 12); do
            kind=$(class "k$i")
            total[$method.$kind]=$((total[$method.$kind] + 1))
        done
        for knob in $(cd "$dir" && git log --format=%s "optimize/$name" | sed -n 's/.*Turn on knob \(k[0-9]*\)$/\1/p'); do
            kind=$(class "$knob")
            kept[$method.$kind]=$((kept[$method.$kind] + 1))
        done
    done
    printf '\rrun %d of %d' "$r" "$runs" >&2
done
printf '\n' >&2

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%6.1f%%", b ? 100 * a / b : 0 }'; }
printf '%-12s %14s %14s %14s %14s %14s\n' method "no-effect kept" "gains>=3% kept" "1% gain kept" "slowdown kept" "measurements"
for method in fixed statistical statistical2 statistical4; do
    printf '%-12s %14s %14s %14s %14s %14s\n' "$method" \
        "$(pct "${kept[$method.none]}" "${total[$method.none]}")" \
        "$(pct "${kept[$method.gain]}" "${total[$method.gain]}")" \
        "$(pct "${kept[$method.small]}" "${total[$method.small]}")" \
        "$(pct "${kept[$method.slowdown]}" "${total[$method.slowdown]}")" \
        "$(awk -v a="${measurements[$method]}" -v b="${experiments[$method]}" 'BEGIN { printf "%.1f/exp", a / b }')"
done
printf '(statistical2 and statistical4: measurement.max_concurrent 2 and 4; statistical: 1)\n'
printf '(%d runs of each; goals for statistical: no-effect <= 1%%, gains >= 95%%, slowdowns 0%%, <= 15 measurements per experiment)\n' "$runs"
