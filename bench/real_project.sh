#!/usr/bin/env bash
# A timing benchmark on a real project we did not write: Python-Markdown 3.7
# (the sdist from PyPI), converting its own docs (36 files) with five
# extensions, wall-clock seconds per measurement (ROUNDS passes). Seven
# changes to its code, each a file hypothesis with a patch:
#   - two real speedups: the inline patterns read once per text node instead
#     of one Registry lookup per pattern tried (inline-list), and block-level
#     tags looked up in a set instead of a 40-item list (block-set); both are
#     measured by hand first, interleaved with the pristine tree;
#   - three neutral ones (a docstring, a local alias, a reordered import);
#   - two slowdowns (the registry re-sorted on every access, the inline
#     regexes recompiled on every use).
# A gate checks the HTML is byte for byte what the original produces. The
# spec uses `comparison.method: statistical` with two implementer slots and
# the default measurement slots (one on this 2-core machine), then again
# with measurement.max_concurrent: 2 (both cores measuring at once). It
# prints, for each, what was kept and the measurements spent.
#
#   bash bench/real_project.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

python=${PYTHON:-python3}
pip download markdown==3.7 --no-deps --no-binary :all: -d "$work/sdist" -q
tar xzf "$work/sdist/markdown-3.7.tar.gz" -C "$work/sdist"
src=$work/sdist/markdown-3.7
pristine=$work/pristine
mkdir -p "$pristine"
cp -r "$src/markdown" "$src/docs" "$src/LICENSE.md" "$src/README.md" "$pristine/"

cat > "$pristine/bench.py" <<'EOF'
"""Wall-clock time of converting Python-Markdown's own docs with five
extensions, ROUNDS times; `same` is 1 when the HTML is what the original
code produced (expected_digest)."""
import glob, hashlib, json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import markdown
docs = [open(p, encoding="utf-8").read()
        for p in sorted(glob.glob(os.path.join(here, "docs/**/*.md"), recursive=True))]
exts = ["markdown.extensions." + e for e in ("tables", "fenced_code", "toc", "footnotes", "attr_list")]
md = markdown.Markdown(extensions=exts)
if os.environ.get("DIGEST"):
    d = hashlib.sha256()
    for text in docs:
        d.update(md.reset().convert(text).encode())
    print(d.hexdigest())
    sys.exit(0)
start = time.perf_counter()
digest = hashlib.sha256()
for r in range(int(os.environ.get("ROUNDS", "2"))):
    for text in docs:
        html = md.reset().convert(text)
        if r == 0:
            digest.update(html.encode())
seconds = time.perf_counter() - start
expected = open(os.path.join(here, "expected_digest")).read().strip()
print(json.dumps({"seconds": round(seconds, 6), "same": int(digest.hexdigest() == expected)}))
EOF
(cd "$pristine" && DIGEST=1 "$python" bench.py > expected_digest)

# Each change as an edit of the pristine tree (a Python replace that must
# match), turned into a patch with diff -u.
edit() { # name file old new
    local copy=$work/edit-$1
    rm -rf "$copy"
    cp -r "$pristine" "$copy"
    "$python" - "$copy/$2" "$3" "$4" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
assert text.count(old) == 1, f"{path}: the text to replace is not there once"
open(path, "w").write(text.replace(old, new))
EOF
    (cd "$work" && diff -u "pristine/$2" "edit-$1/$2" |
        sed -e "1s|^--- pristine/|--- a/|" -e "2s|^+++ edit-$1/|+++ b/|" > "$work/$1.patch") || true
}

edit inline-list markdown/treeprocessors.py \
'            count = len(self.inlinePatterns)
            while patternIndex < count:
                data, matched, startIndex = self.__applyPattern(
                    self.inlinePatterns[patternIndex], data, patternIndex, startIndex
                )' \
'            patterns = list(self.inlinePatterns)
            count = len(patterns)
            while patternIndex < count:
                data, matched, startIndex = self.__applyPattern(
                    patterns[patternIndex], data, patternIndex, startIndex
                )'
edit block-set markdown/core.py \
"        if isinstance(tag, str):
            return tag.lower().rstrip('/') in self.block_level_elements" \
"        if isinstance(tag, str):
            elements = self.block_level_elements
            if getattr(self, '_block_level_key', None) != (id(elements), len(elements)):
                self._block_level_set = frozenset(elements)
                self._block_level_key = (id(elements), len(elements))
            return tag.lower().rstrip('/') in self._block_level_set"
edit docstring markdown/treeprocessors.py \
'Process string with inline patterns and replace it with placeholders.' \
'Process a string with the inline patterns, replacing matches with placeholders.'
edit iter-alias markdown/util.py \
'        return iter([self._data[k] for k, p in self._priority])' \
'        data = self._data
        return iter([data[k] for k, p in self._priority])'
edit import-order markdown/blockparser.py \
'import xml.etree.ElementTree as etree
from typing import TYPE_CHECKING, Iterable, Any' \
'from typing import TYPE_CHECKING, Iterable, Any
import xml.etree.ElementTree as etree'
edit always-sort markdown/util.py \
'        if not self._is_sorted:
            self._priority.sort' \
'        if True:
            self._priority.sort'
edit recompile markdown/inlinepatterns.py \
'        """ Return a compiled regular expression. """
        return self.compiled_re' \
'        """ Return a compiled regular expression. """
        return re.compile(self.compiled_re.pattern, self.compiled_re.flags)'

repo=$work/repo
cp -r "$pristine" "$repo"
"$python" - "$work" > "$repo/hypotheses.yaml" <<'EOF'
import sys
work = sys.argv[1]
changes = [
    ("inline-list", "Read the inline patterns once per text node", "speed"),
    ("block-set", "Block-level tags looked up in a set, not a list", "speed"),
    ("docstring", "Reword the inline handler's docstring", "docs"),
    ("iter-alias", "A local alias in Registry.__iter__", "style"),
    ("import-order", "Reorder blockparser's imports", "style"),
    ("always-sort", "Always re-sort the registry", "correctness"),
    ("recompile", "Recompile inline regexes on every use", "correctness"),
]
for name, description, category in changes:
    patch = open(f"{work}/{name}.patch").read()
    print(f"- description: {description}")
    print(f"  category: {category}")
    print("  patch: |")
    for line in patch.splitlines():
        print("    " + line)
EOF
for slots in default 2; do
    extra=
    [ "$slots" = 2 ] && extra="  max_concurrent: 2"
    cat > "$repo/markdown-$slots.yaml" <<SPEC
name: markdown-$slots
description: Make Python-Markdown convert its docs faster, the same HTML
metric:
  primary: {type: hard, name: seconds, direction: minimize}
  degenerate_gates: [{name: same, check: "== 1"}]
measurement:
  command: "$python bench.py"
  timeout_seconds: 120
$extra
  stability:
    mode: stable
    comparison: {method: statistical, relative_threshold: 0.01, confidence: 0.95, max_samples: 24}
scope:
  mutable: ["markdown/"]
  immutable: ["bench.py", "expected_digest", "docs/"]
execution: {mode: parallel, max_concurrent: 2}
stopping: {max_iterations: 7, plateau_iterations: 7}
hypotheses: {source: file, file: hypotheses.yaml}
SPEC
done
(cd "$repo" && git init -q -b main && git add -A &&
    git -c user.name=bench -c user.email=bench@localhost commit -qm "Python-Markdown 3.7 with a timing benchmark")

# The changes measured by hand first, each against the pristine tree,
# interleaved in a new order each round, 9 rounds: what is real before the
# tool looks.
printf 'by hand (median of 9 interleaved runs, seconds):\n'
trees=(pristine inline-list block-set docstring iter-alias import-order always-sort recompile)
for name in "${trees[@]}"; do
    dir=$work/edit-$name
    [ "$name" = pristine ] && dir=$pristine
    [ -f "$dir/expected_digest" ] || cp "$pristine/expected_digest" "$dir/"
done
declare -A samples
for ((round = 1; round <= 9; round++)); do
    # A new order each round: a position within the round must not favour a change.
    for name in $(printf '%s\n' "${trees[@]}" | shuf); do
        dir=$work/edit-$name
        [ "$name" = pristine ] && dir=$pristine
        s=$(cd "$dir" && "$python" bench.py | sed 's/.*"seconds": \([0-9.]*\).*/\1/')
        samples[$name]="${samples[$name]:-} $s"
    done
done
base=$(echo "${samples[pristine]}" | tr ' ' '\n' | sed '/^$/d' | sort -n | sed -n 5p)
for name in "${trees[@]}"; do
    m=$(echo "${samples[$name]}" | tr ' ' '\n' | sed '/^$/d' | sort -n | sed -n 5p)
    printf '  %-14s %s  (%+.1f%%)\n' "$name" "$m" "$(echo "($m - $base) / $base * 100" | bc -l)"
done

for slots in default 2; do
    start=$(now)
    (cd "$repo" && "$bin" "markdown-$slots.yaml" --quiet > "$work/run-$slots.out" 2>&1) ||
        { cat "$work/run-$slots.out"; exit 1; }
    wall=$(echo "$(now) - $start" | bc -l)
    status=$(cd "$repo" && "$bin" status "markdown-$slots.yaml" --json)
    m=$(printf '%s' "$status" | sed -n 's/^  "measurements": \([0-9]*\),*$/\1/p')
    kept=$(cd "$repo" && git log --format=%s "optimize/markdown-$slots" main.. | tr '\n' ';')
    printf '\nmeasurement slots %s: %.0f s, %s measurements; kept: %s\n' "$slots" "$wall" "$m" "${kept:-nothing}"
    awk '/^  hypothesis:/ { sub(/^  hypothesis: /, ""); h = $0 }
         /^  outcome:/ { printf "  %-50s %s\n", h, $2 }' "$repo/.optimize/markdown-$slots/experiment-log.yaml"
done
