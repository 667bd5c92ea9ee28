#!/usr/bin/env bash
# How optimize scales, measured side by side in one run (release build,
# serial runs unless said otherwise). Per-experiment figures are marginal
# costs: a run of 16 experiments minus a run of 4, divided by 12, so what a
# run pays once (the baseline, the first checkout of each slot) does not count.
#
#  1. Overhead per experiment (everything but the measurement, which is a
#     trivial script) on generated 1,000- and 20,000-file repositories, beside
#     `git worktree add` + `git worktree remove` of the git CLI there.
#  2. Per-experiment cost after 100 and after 10,000 earlier log entries.
#  3. `status` and `report` on the 10,000-entry log.
#  4. Parallel efficiency: wall time against (sum of measurement times /
#     slots), with a measurement that sleeps, 4 slots, marginal as above
#     (24 experiments minus 8).
#
#   bash bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

ms() { echo "$1 * 1000" | bc -l; }

# Seconds a command takes.
timed() {
    local start
    start=$(now)
    "$@" > /dev/null
    echo "$(now) - $start" | bc -l
}

# The measurement time an experiment log records, summed (seconds).
measured() { awk '/^    measure_s:/ {s += $2} END {print s + 0}' "$1"; }

# A git repository at `dir` with eval.sh printing `score` (`$2`: its body
# before the echo, `$3`: the score expression), src/, and optimize.yaml with
# `$4` as its execution and `$5` as its stopping; hypotheses.yaml is written
# by the caller before `commit`.
scaffold() { # dir eval-prelude score execution stopping [measurement-extras]
    mkdir -p "$1/src"
    git -C "$1" init -q -b main
    printf '#!/bin/sh\n%s\necho "{\\"score\\": %s, \\"ok\\": 1}"\n' "$2" "$3" > "$1/eval.sh"
    chmod +x "$1/eval.sh"
    cat > "$1/optimize.yaml" <<SPEC
name: bench
description: scale
metric:
  primary: {type: hard, name: score, direction: maximize}
  degenerate_gates: [{name: ok, check: "== 1"}]
measurement: {command: ./eval.sh${6:+, $6}}
scope: {mutable: [src/], immutable: [eval.sh]}
execution: $4
stopping: $5
max_runner_up_merges_per_batch: 0
hypotheses: {source: file, file: hypotheses.yaml}
SPEC
}

commit() { # dir
    git -C "$1" add -A
    git -C "$1" -c user.name=b -c user.email=b@b commit -qm init
}

# A repository of `files` files and `n` hypotheses, each changing two files
# (so every one is kept and the next starts from a new commit).
make_repo() { # dir files n
    local dir=$1 files=$2 n=$3
    scaffold "$dir" "" '$(cat src/score)' "{mode: serial, max_concurrent: 1}" \
        "{max_iterations: $n, plateau_iterations: $((n + 1))}"
    for ((i = 0; i < files; i++)); do
        d=$dir/src/d$((i / 500))
        [ -d "$d" ] || mkdir -p "$d"
        printf 'file %d\nline two\n' "$i" > "$d/f$i.txt"
    done
    echo 0 > "$dir/src/score"
    for ((i = 1; i <= n; i++)); do
        printf -- '- description: step %d\n  category: c%d\n  apply: "echo %d > src/score && echo %d >> src/d0/f0.txt"\n' "$i" "$i" "$i" "$i"
    done > "$dir/hypotheses.yaml"
    commit "$dir"
}

# Marginal seconds per experiment of a serial run on a `files`-file repository.
run_marginal() { # files
    local files=$1 k t4 t16
    for k in 4 16; do
        make_repo "$work/repo-$files-$k" "$files" "$k"
        eval "t$k=$(timed bash -c "cd '$work/repo-$files-$k' && '$bin' optimize.yaml --quiet")"
        eval "m$k=$(measured "$work/repo-$files-$k/.optimize/bench/experiment-log.yaml")"
    done
    echo "(($t16 - $m16) - ($t4 - $m4)) / 12" | bc -l
}

# Seconds per `git worktree add` + `git worktree remove` (the git CLI).
git_pair() { # files pairs
    local files=$1 n=$2 repo=$work/repo-$1-4 start
    start=$(now)
    for ((i = 0; i < n; i++)); do
        git -C "$repo" worktree add -q -b "cli-$i" "$work/wt-$files-$i" HEAD
        git -C "$repo" worktree remove --force "$work/wt-$files-$i"
    done
    echo "($(now) - $start) / $n" | bc -l
}

echo "1. overhead per experiment (measurement excluded), against git worktree add + remove"
printf '   %-8s %12s %12s %8s\n' files "optimize ms" "git CLI ms" ratio
for files in 1000 20000; do
    run=$(run_marginal "$files")
    git=$(git_pair "$files" 5)
    printf '   %-8s %12.1f %12.1f %7.3fx\n' "$files" "$(ms "$run")" "$(ms "$git")" "$(echo "$run / $git" | bc -l)"
done

# A run whose log already has `entries` entries, with 16 hypotheses queued.
make_logged_run() { # dir entries
    local dir=$1 entries=$2
    scaffold "$dir" "" '$(cat src/score)' "{mode: serial, max_concurrent: 1}" \
        "{max_iterations: 1000000, plateau_iterations: 1000000}"
    echo 0 > "$dir/src/score"
    echo '[]' > "$dir/hypotheses.yaml"
    commit "$dir"
    mkdir -p "$dir/.optimize/bench"
    python3 - "$entries" "$(git -C "$dir" rev-parse HEAD)" > "$dir/.optimize/bench/experiment-log.yaml" <<'PY'
import sys
n, head = int(sys.argv[1]), sys.argv[2]
print(f"""spec: bench
run_id: 20260101T000000Z
started_at: '2026-01-01T00:00:00Z'
baseline:
  timestamp: '2026-01-01T00:00:00Z'
  gates: {{ok: 1.0}}
  metrics: {{ok: 1.0, score: 0.0}}
  diagnostics: {{}}
  commit: {head}
experiments:""")
for i in range(1, n + 1):
    print(f"""- iteration: {i}
  batch: {i}
  hypothesis: earlier idea {i}
  category: earlier
  outcome: reverted
  metrics: {{ok: 1.0, score: 0.0}}
  primary_delta: '+0'
  learnings: 'score 0 vs best 0 (+0): no better; reverted.'""")
print(f"""best:
  iteration: 0
  metrics: {{ok: 1.0, score: 0.0}}
  commit: {head}
hypothesis_backlog:""")
for i in range(1, 17):
    print(f"""- description: step {i}
  category: c{i}
  priority: high
  dep_status: not_applicable
  required_deps: []
  apply: "echo {i} > src/score\"""")
print("active_seconds: 0.0")
PY
}

log_marginal() { # entries
    local entries=$1 k t4 t16
    for k in 4 16; do
        make_logged_run "$work/log-$entries-$k" "$entries"
        eval "t$k=$(timed bash -c "cd '$work/log-$entries-$k' && '$bin' optimize.yaml --quiet --max-iterations $((entries + k))")"
    done
    echo "($t16 - $t4) / 12" | bc -l
}

echo "2. per-experiment cost against the log's length"
small=$(log_marginal 100)
large=$(log_marginal 10000)
printf '   after 100 entries:    %8.1f ms\n' "$(ms "$small")"
printf '   after 10,000 entries: %8.1f ms  (%.2fx)\n' "$(ms "$large")" "$(echo "$large / $small" | bc -l)"

echo "3. reading a 10,016-entry log"
for cmd in status report; do
    t=$(timed bash -c "cd '$work/log-10000-16' && '$bin' $cmd optimize.yaml")
    printf '   %-7s %8.1f ms\n' "$cmd" "$(ms "$t")"
done

# A run of `n` experiments in batches of `slots`, each measurement sleeping
# one second; each hypothesis touches its own file.
make_parallel() { # dir n slots
    local dir=$1 n=$2 slots=$3
    # A sleeping measurement shares no core: every slot may measure at once.
    scaffold "$dir" "sleep 1" 1 "{mode: parallel, max_concurrent: $slots}" \
        "{max_iterations: $n, plateau_iterations: $((n + 1))}" "max_concurrent: $slots"
    echo 0 > "$dir/src/base"
    for ((i = 1; i <= n; i++)); do
        printf -- '- description: idea %d\n  category: c%d\n  apply: "echo %d > src/f%d"\n' "$i" "$i" "$i" "$i"
    done > "$dir/hypotheses.yaml"
    commit "$dir"
}

echo "4. parallel efficiency (4 slots, 1 s measurements, 24 experiments minus 8)"
slots=4
for n in 8 24; do
    make_parallel "$work/par-$n" "$n" "$slots"
    eval "w$n=$(timed bash -c "cd '$work/par-$n' && '$bin' optimize.yaml --quiet")"
    eval "s$n=$(measured "$work/par-$n/.optimize/bench/experiment-log.yaml")"
done
wall=$(echo "$w24 - $w8" | bc -l)
ideal=$(echo "($s24 - $s8) / $slots" | bc -l)
printf '   wall %.2f s, measurement %.2f s / %d slots = %.2f s: %.3fx\n' \
    "$wall" "$(echo "$s24 - $s8" | bc -l)" "$slots" "$ideal" "$(echo "$wall / $ideal" | bc -l)"
