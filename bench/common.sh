# Sourced by every benchmark (from the repository root): a release build in
# $bin, a scratch directory $work removed on exit, git without the user's
# configuration, and `now` in seconds.
cargo build --release --quiet
bin=$PWD/target/release/optimize
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

now() { date +%s.%N; }
