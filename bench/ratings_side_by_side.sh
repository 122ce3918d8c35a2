#!/usr/bin/env bash
# The ratings benchmark of issue 17: `rating ~ 1 + x + (1 | user) + (1 | item)` on 10,000,000
# simulated ratings (bench/simulate_ratings.py: 100,000 users, 10,000 items, power-law activity and
# popularity), fitted by lmm (REML, the exact objective), and a 1,000,000-row random subset fitted by
# both lmm and lme4 (lme4 takes far more than 30 minutes on the full set: each evaluation factors
# the same 10,000 x 10,000 dense block through CHOLMOD) with their log-likelihoods compared.
# Where a full lme4 fit of the subset is too long, the step lme4at evaluates lme4's REML criterion at
# lmm's theta and at theta +- 0.001 (bench/lme4_at_theta.R): the same value, and a minimum.
#
#   bench/ratings_side_by_side.sh [build/lmm] [data dir, default bench-data/ratings]
#   STEPS="subset lme4at full" (default: "subset subset-default lme4 full full-default")
#   subset, full: the bare fit (--ddf none), as lme4's lmer; subset-default, full-default: the path
#   users run, with the default Satterthwaite df and p-values (the whole `fit --json`).
#
# Whole-process seconds and peak memory come from GNU time (-v). Timings are noisy on a shared
# machine: say how loaded it was.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lmm="${1:-build/lmm}"
data="${2:-bench-data/ratings}"
steps="${STEPS:-subset subset-default lme4 full full-default}"
formula="rating ~ 1 + x + (1 | user) + (1 | item)"
full="$data/ratings_10M.csv"
subset="$data/ratings_1M.csv"
mkdir -p "$data"
if [ ! -f "$full" ] || [ ! -f "$subset" ]; then
  /usr/bin/python3 "$here/simulate_ratings.py" "$full" --subset 1000000 "$subset"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "PROGRAM wall=S rss_mb=M" from GNU time's file, then the program's summary line.
report() {
  /usr/bin/python3 - "$1" "$tmp/time" <<'PY'
import re, sys
t = open(sys.argv[2]).read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", t).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
print(f"{sys.argv[1]}: wall {wall} (h:mm:ss), peak RSS {rss:.0f} MB")
PY
}

fit_lmm() {  # lmm on one file (then its options): time, memory, evaluations, log-likelihood and theta
  local file="$1"
  shift
  /usr/bin/time -v -o "$tmp/time" "$lmm" fit "$file" "$formula" --json --timings --quiet "$@" \
    > "$tmp/fit.json" 2> "$tmp/fit.err"
  report "lmm $*"
  grep -E 'evaluations' "$tmp/fit.err" || true
  /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("lmm loglik=%r nobs=%d theta=%s" % (j["loglik"], j["nobs"], j["theta"]))' "$tmp/fit.json"
}

for step in $steps; do
  case "$step" in
    subset) echo "== lmm, 1,000,000-row subset, --ddf none" >&2; fit_lmm "$subset" --ddf none; cp "$tmp/fit.json" "$tmp/subset.json" ;;
    subset-default) echo "== lmm, 1,000,000-row subset, default (Satterthwaite df)" >&2; fit_lmm "$subset" ;;
    lme4) echo "== lme4, 1,000,000-row subset" >&2
          /usr/bin/time -v -o "$tmp/time" Rscript "$here/fit_lme4.R" "$subset" "$formula"
          report lme4 ;;
    lme4at) echo "== lme4's REML criterion at lmm's theta, 1,000,000-row subset" >&2
            theta=$(/usr/bin/python3 -c 'import json,sys; print(",".join(repr(t) for t in json.load(open(sys.argv[1]))["theta"]))' "$tmp/subset.json")
            /usr/bin/python3 -c 'import json,sys; print("lmm reml_criterion=%.8f" % json.load(open(sys.argv[1]))["reml_criterion"])' "$tmp/subset.json"
            /usr/bin/time -v -o "$tmp/time" Rscript "$here/lme4_at_theta.R" "$subset" "$formula" "$theta"
            report lme4 ;;
    full) echo "== lmm, 10,000,000 rows, --ddf none" >&2; fit_lmm "$full" --ddf none ;;
    full-default) echo "== lmm, 10,000,000 rows, default (Satterthwaite df)" >&2; fit_lmm "$full" ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
