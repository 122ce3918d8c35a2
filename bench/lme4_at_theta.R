# lme4's REML criterion (or deviance with ML) at a given theta, and at theta +- step in each
# coordinate: checks that another program's optimum is lme4's objective's minimum without a full
# lme4 fit (one evaluation each; a full fit of the 1,000,000-row ratings subset takes lme4 far longer).
#   Rscript lme4_at_theta.R data.csv "formula" theta1,theta2,... [REML|ML] [step]
suppressPackageStartupMessages(library(lme4))
a <- commandArgs(TRUE)
d <- as.data.frame(data.table::fread(a[1], stringsAsFactors = TRUE))
theta <- as.numeric(strsplit(a[3], ",")[[1]])
reml <- !identical(a[4], "ML")
step <- if (length(a) >= 5) as.numeric(a[5]) else 1e-3
t0 <- proc.time()[["elapsed"]]
lf <- lFormula(as.formula(a[2]), d, REML = reml)
dev <- do.call(mkLmerDevfun, lf)
at <- dev(theta)
cat(sprintf("lme4 objective_at_theta=%.8f (%s) seconds_per_evaluation=%.1f\n", at, if (reml) "REML criterion" else "deviance",
            proc.time()[["elapsed"]] - t0))
for (k in seq_along(theta)) for (s in c(-step, step)) {
  th <- theta
  th[k] <- th[k] + s
  cat(sprintf("theta[%d] %+g: objective - at theta = %.3e\n", k, s, dev(th) - at))
}
