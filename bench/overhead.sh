#!/usr/bin/env bash
# The orchestrator's own overhead per experiment (worktree, apply, commit,
# checks, log append, cleanup; the measurement excluded) on generated
# repositories of 1,000 and 20,000 files, beside `git worktree add` +
# `git worktree remove` of the git CLI on the same repository, as ratios.
#
#   bash bench/overhead.sh [EXPERIMENTS]      (default 20 experiments per size)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
source bench/common.sh


make_repo() { # dir files
    local dir=$1 files=$2
    mkdir -p "$dir/src"
    (
        cd "$dir"
        git init -q -b main
        for ((i = 0; i < files; i++)); do
            d=src/d$((i / 500))
            mkdir -p "$d"
            printf 'file %d\nline two\n' "$i" > "$d/f$i.txt"
        done
        printf '#!/bin/sh\necho "{\\"score\\": $(cat src/score), \\"ok\\": 1}"\n' > eval.sh
        chmod +x eval.sh
        echo 0 > src/score
        cat > optimize.yaml <<SPEC
name: bench
description: orchestrator overhead
metric:
  primary: {type: hard, name: score, direction: maximize}
  degenerate_gates: [{name: ok, check: "== 1"}]
measurement: {command: ./eval.sh}
scope: {mutable: [src/], immutable: [eval.sh]}
execution: {mode: serial, max_concurrent: 1}
stopping: {max_iterations: $n, plateau_iterations: $((n + 1))}
max_runner_up_merges_per_batch: 0
hypotheses: {source: file, file: hypotheses.yaml}
SPEC
        for ((i = 1; i <= n; i++)); do
            printf -- '- description: step %d\n  category: c%d\n  apply: "echo %d > src/score && echo %d >> src/d0/f0.txt"\n' "$i" "$i" "$i" "$i"
        done > hypotheses.yaml
        git add -A
        git -c user.name=b -c user.email=b@b commit -qm init
    )
}

printf '%-8s %14s %14s %14s %10s %10s\n' files "phases ms/exp" "run ms/exp" "git CLI ms" "phases/git" "run/git"
for files in 1000 20000; do
    repo=$work/repo-$files
    make_repo "$repo" "$files"

    # git CLI: worktree add + remove of a new branch, n times.
    start=$(now)
    for ((i = 0; i < n; i++)); do
        git -C "$repo" worktree add -q -b "cli-$i" "$work/wt-$files-$i" HEAD
        git -C "$repo" worktree remove --force "$work/wt-$files-$i"
    done
    git_ms=$(echo "($(now) - $start) * 1000 / $n" | bc -l)

    # optimize: a full serial run of n experiments.
    start=$(now)
    (cd "$repo" && "$bin" optimize.yaml --quiet > /dev/null)
    wall=$(echo "$(now) - $start" | bc -l)
    log=$repo/.optimize/bench/experiment-log.yaml
    count=$(grep -c '^- iteration:' "$log")
    # Per-experiment phases recorded in the log (seconds).
    phases=$(awk '/^    (worktree_s|implement_s|commit_s|cleanup_s):/ {s += $2} END {print s}' "$log")
    measure=$(awk '/^    measure_s:/ {s += $2} END {print s}' "$log")
    phases_ms=$(echo "$phases * 1000 / $count" | bc -l)
    # Everything but the measurements (includes the baseline's worktree, log
    # appends, evaluation, branch moves and the digest), per experiment.
    run_ms=$(echo "($wall - $measure) * 1000 / $count" | bc -l)
    printf '%-8s %14.1f %14.1f %14.1f %10.2f %10.2f\n' "$files" "$phases_ms" "$run_ms" "$git_ms" \
        "$(echo "$phases_ms / $git_ms" | bc -l)" "$(echo "$run_ms / $git_ms" | bc -l)"
done
echo "(phases: worktree + apply + commit/checks + cleanup, from each entry's timings;"
echo " run: (wall time - measurement time) / experiments, so it also counts the baseline, log appends, evaluation)"
