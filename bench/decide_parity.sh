#!/usr/bin/env bash
# `optimize decide` against ce-optimize's decide.mjs on the same payloads:
# every payload of our port of ce-optimize's own decide tests
# (src/decide/rules/tests*), then COUNT random payloads covering every rule.
# Prints each disagreement and the count; exits 1 when any.
#
#   bash bench/decide_parity.sh DECIDE_MJS [COUNT] [SEED]
#
# DECIDE_MJS: skills/ce-optimize/scripts/decide.mjs in a checkout of
# https://github.com/EveryInc/compound-engineering-plugin (the newest one has
# `holdout` in its header). Needs node.
set -euo pipefail
cd "$(dirname "$0")/.."
decide_mjs=${1:?usage: bash bench/decide_parity.sh DECIDE_MJS [COUNT] [SEED]}
count=${2:-5000}
seed=${3:-1}
command -v node >/dev/null || { echo "decide_parity: node is not installed" >&2; exit 2; }
cargo build --quiet
cases=$(mktemp -d)
trap 'rm -rf "$cases"' EXIT
DECIDE_DUMP=$cases cargo test --quiet --lib decide::rules >/dev/null
node bench/decide_parity.mjs "$decide_mjs" --cases "$cases" --count "$count" --seed "$seed"
