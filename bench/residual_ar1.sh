#!/bin/sh
# AR(1) residuals at scale, side by side in one run (issue 13's speed note):
#   1. lmm, 100,000 persons x 10 waves, random intercept and slope: AR(1) residuals vs independent;
#   2. nlme's lme(..., correlation = corAR1(form = ~ time | id)) vs lmm on 10,000 x 10.
# Usage: bench/residual_ar1.sh [build/lmm] [persons] [nlme_persons] [repetitions]   (slow: minutes)
# Each lmm figure is wall seconds and CPU seconds (user + sys, /usr/bin/time): on a shared machine
# the CPU time is the one to compare; the two fits alternate, REPS times each.
set -eu
LMM=${1:-build/lmm}
N=${2:-100000}
NN=${3:-10000}
REPS=${4:-3}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
gen() {  # persons seed out: y = 50 + 2 t + u0 + u1 t + e, e AR(1) with phi 0.5 within person
  python3 - "$1" "$2" "$3" <<'PY'
import random, sys, math
n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = random.Random(seed)
with open(out, "w") as f:
    f.write("id,time,y\n")
    for i in range(n):
        u0, u1 = r.gauss(0, 8), r.gauss(0, 1.5)
        e = r.gauss(0, 4)
        for t in range(10):
            if t > 0:
                e = 0.5 * e + r.gauss(0, 4 * math.sqrt(1 - 0.25))
            f.write("p%d,%d,%.6f\n" % (i, t, 50 + 2 * t + u0 + u1 * t + e))
PY
}
timed() {  # "wall cpu" in seconds
  /usr/bin/time -f "%e %U %S" -o "$DIR/time" "$@" > /dev/null
  awk '{printf "%.2f %.2f", $1, $2 + $3}' "$DIR/time"
}
gen "$N" 1 "$DIR/big.csv"
gen "$NN" 2 "$DIR/small.csv"
F="y ~ time + (time | id)"
# Each lmm figure for the path users run (default options: Satterthwaite df and p, --json) and the
# bare fit (--ddf none, no output beyond the summary).
for mode in "--json" "--ddf none --quiet"; do
  r=1
  while [ "$r" -le "$REPS" ]; do
    # shellcheck disable=SC2086
    set -- $(timed "$LMM" fit "$DIR/big.csv" "$F" $mode) $(timed "$LMM" fit "$DIR/big.csv" "$F" --residual "ar1(time | id)" $mode)
    echo "lmm $N x 10 ($mode) run $r: independent ${1}s wall ${2}s CPU, AR(1) ${3}s wall ${4}s CPU," \
      "ratio $(echo "scale=2; $3 / $1" | bc) wall $(echo "scale=2; $4 / $2" | bc) CPU"
    r=$((r + 1))
  done
done
tl=$(timed "$LMM" fit "$DIR/small.csv" "$F" --residual "ar1(time | id)" --json | cut -d' ' -f1)
tb=$(timed "$LMM" fit "$DIR/small.csv" "$F" --residual "ar1(time | id)" --ddf none --quiet | cut -d' ' -f1)
tn=$(Rscript -e "suppressPackageStartupMessages(library(nlme)); d <- read.csv('$DIR/small.csv');
  t <- system.time(lme(y ~ time, random = ~ time | id, data = d, correlation = corAR1(form = ~ time | id),
  control = lmeControl(maxIter = 200, msMaxIter = 200)))[['elapsed']]; cat(t)")
echo "$NN x 10: lmm ${tl}s (--json, df and p; bare fit ${tb}s), nlme lme() ${tn}s, ratio $(echo "scale=1; $tn / $tl" | bc)"
