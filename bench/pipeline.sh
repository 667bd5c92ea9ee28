#!/usr/bin/env bash
# Idle slots, measured: for three scenarios with 4 implement and 4
# measurement slots, the run's wall time against what the slots could do at
# best: the unavoidable serial part (the baseline measurement, and the first
# hypothesis request when a model proposes) plus the sum of every
# experiment's own work (worktree, implementation, commit, measurement,
# combination with a newer best, clean-up, as the log records it) divided by
# the 4 slots. 1.00x is a pipeline with no idle slot.
#
#  A. file hypotheses, measurements of 0.2-3.2 s, 16 experiments
#  B. an implementer taking 1-8 s (an `apply` command, as an agent would),
#     measurements of 0.3 s, 16 experiments
#  C. a model (bench/model_server.py) taking 5 s per hypothesis request
#     (6 hypotheses each) and 1-8 s per edit, measurements of 0.3 s,
#     24 experiments
#
#   bash bench/pipeline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
[ -n "${BENCH_KEEP:-}" ] && trap "echo kept $work" EXIT

# Seconds of per-experiment work the log records, summed.
work_of() {
    awk '/^    (worktree_s|implement_s|commit_s|measure_s|combine_s|cleanup_s):/ {s += $2} END {print s + 0}' "$1"
}

# A repository at `dir` whose eval.sh sleeps `sleep_expr` seconds and scores
# 100 plus 5 for each gain file present; optimize.yaml with 4 slots of each
# kind, `n` experiments at most and `$4` as its hypotheses section.
scaffold() { # dir sleep-expr n hypotheses-yaml
    mkdir -p "$1/src"
    git -C "$1" init -q -b main
    cat > "$1/eval.sh" <<EVAL
#!/bin/sh
sleep \$($2)
s=100
for f in src/gain*; do [ -f "\$f" ] && s=\$((s + 5)); done
echo "{\"score\": \$s, \"ok\": 1}"
EVAL
    chmod +x "$1/eval.sh"
    echo keep > "$1/src/.keep"
    cat > "$1/optimize.yaml" <<SPEC
name: bench
description: keep every slot busy
metric:
  primary: {type: hard, name: score, direction: maximize}
  degenerate_gates: [{name: ok, check: "== 1"}]
measurement: {command: ./eval.sh, max_concurrent: 4, timeout_seconds: 60}
scope: {mutable: [src/], immutable: [eval.sh]}
execution: {mode: parallel, max_concurrent: 4}
stopping: {max_iterations: $3, plateau_iterations: 1000}
$4
SPEC
    git -C "$1" add -A
    git -C "$1" -c user.name=b -c user.email=b@b commit -qm init
}

# Runs the spec in `dir` and prints "wall work".
run() { # dir
    local start wall
    start=$(now)
    (cd "$1" && BENCH_KEY=unused "$bin" optimize.yaml --quiet > /dev/null)
    wall=$(echo "$(now) - $start" | bc -l)
    echo "$wall $(work_of "$1/.optimize/bench/experiment-log.yaml")"
}

report() { # label wall work serial
    local ideal
    ideal=$(echo "$4 + $3 / 4" | bc -l)
    printf '   %-44s %7.1f s %7.1f s %7.1f s %6.2fx\n' "$1" "$2" "$3" "$ideal" "$(echo "$2 / $ideal" | bc -l)"
}

printf '   %-44s %9s %9s %9s %7s\n' scenario wall "Σ work" ideal ratio

# A: knob k sets its own measurement time, 0.2-3.2 s; every fifth is a gain.
a=$work/a
hyps=""
for ((k = 1; k <= 16; k++)); do
    if ((k % 5 == 0)); then
        hyps+="- {description: gain $k, category: c$k, apply: \"echo 1 > src/gain$k\"}"$'\n'
    else
        tenths=$((2 * (1 + k * 7 % 16)))
        t=$((tenths / 10)).$((tenths % 10))
        hyps+="- {description: knob $k, category: c$k, apply: \"echo $t > src/k$k\"}"$'\n'
    fi
done
mkdir -p "$a"
printf '%s' "$hyps" > "$a/hypotheses.yaml"
scaffold "$a" 'cat src/k* 2>/dev/null || echo 0.2' 16 "hypotheses: {source: file, file: hypotheses.yaml}"
read -r wall busy < <(run "$a")
report "A. file hypotheses, measure 0.2-3.2 s" "$wall" "$busy" 0.2

# B: the implementer takes 1-8 s, the measurement 0.3 s.
b=$work/b
hyps=""
for ((k = 1; k <= 16; k++)); do
    i=$((1 + k * 5 % 8))
    file=k$k
    ((k % 5 == 0)) && file=gain$k
    hyps+="- {description: knob $k, category: c$k, apply: \"sleep $i && echo 1 > src/$file\"}"$'\n'
done
mkdir -p "$b"
printf '%s' "$hyps" > "$b/hypotheses.yaml"
scaffold "$b" 'echo 0.3' 16 "hypotheses: {source: file, file: hypotheses.yaml}"
read -r wall busy < <(run "$b")
report "B. implementer 1-8 s, measure 0.3 s" "$wall" "$busy" 0.3

# C: a model taking 5 s per request and 1-8 s per edit.
c=$work/c
python3 bench/model_server.py "$work/port" 24 6 5 &
server=$!
trap 'kill $server 2>/dev/null; [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
while [ ! -f "$work/port" ]; do sleep 0.05; done
scaffold "$c" 'echo 0.3' 24 "llm: {base_url: \"http://127.0.0.1:$(cat "$work/port")/v1\", model: bench, api_key_env: BENCH_KEY}
hypotheses: {source: llm}"
read -r wall busy < <(run "$c")
report "C. model 5 s per request, 1-8 s per edit" "$wall" "$busy" 5.3
