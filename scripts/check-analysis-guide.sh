#!/usr/bin/env bash
# Runs the Python and R snippets of docs/guide/analysis.md against a results directory, in a temporary
# directory (the figures they draw are written there and listed; KEEP=DIR copies them to DIR). Needs pandas and matplotlib for Python 3
# (PYTHON, default python3) and R (Rscript). Not part of CI: neither is a dependency of edgectl.
set -euo pipefail
usage() { echo "usage: $0 RESULTS_DIR" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
dir=$(cd "$1" && pwd) || usage
[[ -f "$dir/meta.json" ]] || { echo "$dir is not a results directory (no meta.json)" >&2; exit 2; }
guide="$(cd "$(dirname "$0")/.." && pwd)/docs/guide/analysis.md"
python=${PYTHON:-python3}
"$python" -c 'import pandas, matplotlib' 2>/dev/null \
  || { echo "$python has no pandas or matplotlib (Debian: apt-get install python3-pandas python3-matplotlib)" >&2; exit 7; }
command -v Rscript >/dev/null || { echo "no Rscript (Debian: apt-get install r-base-core)" >&2; exit 7; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The fenced blocks of one language, the results directory put in place of the quick start's.
block() {
  awk -v lang="$1" '$0 == "```" lang { on = 1; next } on && $0 == "```" { on = 0; next } on { print }' "$guide" \
    | sed "s|\"results/quickstart\"|\"${dir//|/\\|}\"|"
}
block python > "$work/guide.py"
block r > "$work/guide.R"
[[ -s "$work/guide.py" && -s "$work/guide.R" ]] || { echo "$guide has no python or r block" >&2; exit 1; }
(cd "$work" && MPLBACKEND=Agg "$python" guide.py > python.out && Rscript guide.R > r.out 2>&1) || {
  cat "$work"/*.out >&2 2>/dev/null; exit 1; }
echo "== python"; cat "$work/python.out"
echo "== R"; cat "$work/r.out"
echo "== figures"
for f in "$work"/*.pdf; do echo "$(basename "$f") $(stat -c %s "$f") bytes"; done
if [[ -n "${KEEP:-}" ]]; then mkdir -p "$KEEP" && cp "$work"/*.pdf "$KEEP"/; fi
