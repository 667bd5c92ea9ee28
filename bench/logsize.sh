#!/usr/bin/env bash
# What a long log costs: the marginal cost of one experiment (a run of 16
# experiments minus a run of 4, divided by 12) after 100 and after 10,000
# earlier entries, side by side, and `status` and `report` on the
# 10,000-entry log. The earlier entries are synthetic (reverted, one metric
# each); the new experiments are real (serial, trivial measurement).
#
#   bash bench/logsize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh


# A repository whose run already has `$2` entries and 16 hypotheses queued.
make_run() { # dir entries
    local dir=$1 entries=$2
    mkdir -p "$dir/src"
    (
        cd "$dir"
        git init -q -b main
        printf '#!/bin/sh\necho "{\\"score\\": $(cat src/score), \\"ok\\": 1}"\n' > eval.sh
        chmod +x eval.sh
        echo 0 > src/score
        cat > optimize.yaml <<'SPEC'
name: bench
description: log size
metric:
  primary: {type: hard, name: score, direction: maximize}
  degenerate_gates: [{name: ok, check: "== 1"}]
measurement: {command: ./eval.sh}
scope: {mutable: [src/], immutable: [eval.sh]}
execution: {mode: serial, max_concurrent: 1}
stopping: {max_iterations: 1000000, plateau_iterations: 1000000}
max_runner_up_merges_per_batch: 0
hypotheses: {source: file, file: h.yaml}
SPEC
        echo '[]' > h.yaml
        git add -A
        git -c user.name=b -c user.email=b@b commit -qm init
        mkdir -p .optimize/bench
        python3 - "$entries" "$(git rev-parse HEAD)" > .optimize/bench/experiment-log.yaml <<'PY'
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
    )
}

marginal() { # entries -> ms per experiment
    local entries=$1 t4 t16 start
    for k in 4 16; do
        make_run "$work/run-$entries-$k" "$entries"
        start=$(now)
        (cd "$work/run-$entries-$k" && "$bin" optimize.yaml --quiet \
            --max-iterations $((entries + k)) > /dev/null)
        eval "t$k=$(echo "$(now) - $start" | bc -l)"
    done
    echo "($t16 - $t4) * 1000 / 12" | bc -l
}

small=$(marginal 100)
large=$(marginal 10000)
printf 'per experiment after 100 entries:    %8.1f ms\n' "$small"
printf 'per experiment after 10,000 entries: %8.1f ms  (%.2fx)\n' "$large" "$(echo "$large / $small" | bc -l)"

dir=$work/run-10000-16
for cmd in status report; do
    start=$(now)
    (cd "$dir" && "$bin" "$cmd" optimize.yaml > /dev/null)
    printf '%-7s on a 10,016-entry log:  %8.1f ms\n' "$cmd" "$(echo "($(now) - $start) * 1000" | bc -l)"
done
