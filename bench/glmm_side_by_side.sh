#!/bin/sh
# GLMMs side by side with lme4's glmer, in one run (run by hand; not a test):
#   bench/glmm_side_by_side.sh [PERSONS] [WAVES]      (default 20000 x 8)
# Simulates a binary longitudinal study with tests/data/glmm/cases_glmm_public.R's generator
# (y ~ time * group + (time | id), dropout), then times the whole process of `lmm fit --family
# binomial` and of an R process running glmer (default control) on the same CSV, and prints both
# log-likelihoods. VerbAgg (crossed, 7,584 rows) follows.
set -eu
persons=${1:-20000}
waves=${2:-8}
here=$(cd "$(dirname "$0")/.." && pwd)
lmm=${LMM:-$here/build/lmm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here/tests/data/glmm"
Rscript -e "source('cases_glmm_public.R'); d <- simulate_binary_growth($persons, 0:($waves - 1), seed = 1, id_width = 6); write.csv(d, '$tmp/binary.csv', row.names = FALSE, na = '')"
# Each process runs under /usr/bin/time: CPU seconds (user + sys) beside the elapsed ones, as on a
# loaded machine the elapsed times are inflated.
cpu() { awk '{print $1 + $2}' "$1"; }
run() {  # name, data, formula
  start=$(date +%s.%N)
  ll=$(/usr/bin/time -f '%U %S' -o "$tmp/cpu_lmm" "$lmm" fit "$2" "$3" --family binomial --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["loglik"])')
  t_lmm=$(echo "$(date +%s.%N) - $start" | bc)
  start=$(date +%s.%N)
  ll_r=$(/usr/bin/time -f '%U %S' -o "$tmp/cpu_r" Rscript -e "suppressMessages(library(lme4)); d <- read.csv('$2', stringsAsFactors = TRUE); m <- glmer($3, data = d, family = binomial); cat(as.numeric(logLik(m)))")
  t_r=$(echo "$(date +%s.%N) - $start" | bc)
  printf '%-10s lmm %8.2f s (CPU %.2f s)  loglik %.4f | glmer %8.2f s (CPU %.2f s)  loglik %.4f | %.1fx (CPU %.1fx)\n' \
    "$1" "$t_lmm" "$(cpu "$tmp/cpu_lmm")" "$ll" "$t_r" "$(cpu "$tmp/cpu_r")" "$ll_r" "$(echo "$t_r / $t_lmm" | bc -l)" \
    "$(echo "$(cpu "$tmp/cpu_r") / $(cpu "$tmp/cpu_lmm")" | bc -l)"
}
run binary "$tmp/binary.csv" "y ~ time * group + (time | id)"
run verbagg "$here/tests/data/glmm/data/verbagg.csv" "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"
