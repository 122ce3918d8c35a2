#!/bin/sh
# InstEval (lme4's data: 73,421 ratings, 2,972 students x 1,128 instructors x 14 departments) side by
# side in one run (issue 17): lmm's whole `fit --json` with Satterthwaite df (ML) and with
# Kenward-Roger (REML), each with --timings, beside lme4's bare lmer (whole Rscript process, and
# its fit alone as bench/fit_lme4.R reports it).
# Usage: bench/insteval_df.sh [build/lmm]   (needs R with lme4; about a minute)
set -eu
LMM=${1:-build/lmm}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
Rscript -e 'library(lme4); write.csv(InstEval, commandArgs(TRUE)[1], row.names = FALSE)' "$DIR/insteval.csv"
F='y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)'
timed() { s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "lmm fit --json --ml (Satterthwaite): $(timed "$LMM" fit "$DIR/insteval.csv" "$F" --ml --json) s"
"$LMM" fit "$DIR/insteval.csv" "$F" --ml --json --timings 2>&1 >/dev/null | grep timings
echo "lmm fit --json --ddf kenward-roger (REML): $(timed "$LMM" fit "$DIR/insteval.csv" "$F" --ddf kenward-roger --json) s"
"$LMM" fit "$DIR/insteval.csv" "$F" --ddf kenward-roger --json --timings 2>&1 >/dev/null | grep timings
echo "lme4 bare lmer, ML, whole Rscript: $(timed Rscript "$(dirname "$0")/fit_lme4.R" "$DIR/insteval.csv" "$F" ML) s"
Rscript "$(dirname "$0")/fit_lme4.R" "$DIR/insteval.csv" "$F" ML
