#!/bin/sh
# AR(1) residuals at scale, side by side in one run (issue 13's speed note):
#   1. lmm, 100,000 persons x 10 waves, random intercept and slope: AR(1) residuals vs independent;
#   2. nlme's lme(..., correlation = corAR1(form = ~ time | id)) vs lmm on 10,000 x 10.
# Usage: bench/residual_ar1.sh [build/lmm] [persons] [nlme_persons]   (prints seconds; slow: minutes)
set -eu
LMM=${1:-build/lmm}
N=${2:-100000}
NN=${3:-10000}
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
timed() { s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
gen "$N" 1 "$DIR/big.csv"
gen "$NN" 2 "$DIR/small.csv"
F="y ~ time + (time | id)"
# Each lmm figure twice: the path users run (default options: Satterthwaite df and p, --json) and
# the bare fit (--ddf none, no output beyond the summary).
for mode in "--json" "--ddf none --quiet"; do
  # shellcheck disable=SC2086
  ti=$(timed "$LMM" fit "$DIR/big.csv" "$F" $mode)
  # shellcheck disable=SC2086
  ta=$(timed "$LMM" fit "$DIR/big.csv" "$F" --residual "ar1(time | id)" $mode)
  echo "lmm $N x 10 ($mode): independent ${ti}s, AR(1) ${ta}s, ratio $(echo "scale=2; $ta / $ti" | bc)"
done
tl=$(timed "$LMM" fit "$DIR/small.csv" "$F" --residual "ar1(time | id)" --json)
tb=$(timed "$LMM" fit "$DIR/small.csv" "$F" --residual "ar1(time | id)" --ddf none --quiet)
tn=$(Rscript -e "suppressPackageStartupMessages(library(nlme)); d <- read.csv('$DIR/small.csv');
  t <- system.time(lme(y ~ time, random = ~ time | id, data = d, correlation = corAR1(form = ~ time | id),
  control = lmeControl(maxIter = 200, msMaxIter = 200)))[['elapsed']]; cat(t)")
echo "$NN x 10: lmm ${tl}s (--json, df and p; bare fit ${tb}s), nlme lme() ${tn}s, ratio $(echo "scale=1; $tn / $tl" | bc)"
