#!/usr/bin/env bash
# The latency Slurm adds per measurement: the bundled demo run locally and
# with `execution.runner: slurm` (poll_seconds 1) side by side, the
# difference divided by the measurements the run made.
#
#   SLURM_CONF=/path/to/slurm.conf bash bench/slurm.sh
#
# Needs a cluster that accepts jobs from this machine (the tests' recipe in
# README, "Running measurements on Slurm", starts one on localhost).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

run() { # dir -> seconds, measurements
    local dir=$1 start end
    start=$(date +%s.%N)
    (cd "$dir" && "$bin" optimize.yaml --quiet > /dev/null)
    end=$(date +%s.%N)
    local m
    m=$(cd "$dir" && "$bin" status optimize.yaml --json | sed -n 's/^  "measurements": \([0-9]*\),*$/\1/p')
    echo "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }') $m"
}

"$bin" demo "$work/local" > /dev/null 2>&1 || true
"$bin" demo "$work/slurm" > /dev/null 2>&1 || true
for d in local slurm; do
    (cd "$work/$d" && git branch -D optimize/demo -q && git branch --list 'optimize-exp/*' |
        xargs -r git branch -D -q && rm -rf .optimize)
done
(cd "$work/slurm" && sed -i 's/^  max_concurrent: 4$/  max_concurrent: 4\n  runner: slurm/' optimize.yaml &&
    printf "\nslurm:\n  poll_seconds: 1\n" >> optimize.yaml &&
    git -c user.name=bench -c user.email=bench@localhost commit -qam slurm)

read -r t_local m_local < <(run "$work/local")
read -r t_slurm m_slurm < <(run "$work/slurm")
awk -v tl="$t_local" -v ts="$t_slurm" -v m="$m_slurm" -v ml="$m_local" 'BEGIN {
    printf "local: %.1f s (%d measurements); slurm: %.1f s (%d measurements)\n", tl, ml, ts, m
    printf "added per measurement: %.2f s (%.1fx the local run overall)\n", (ts - tl) / m, ts / tl
}'
