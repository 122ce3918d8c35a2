# Reference fits with prior weights and offsets (lme4 1.1-31, lmerTest for Satterthwaite df).
# Run from this folder: LC_COLLATE=C Rscript make_refs.R
# Writes sleepstudy_weights.csv (sleepstudy with a weight column w and an offset column off, both
# deterministic functions of the row) and one JSON per case.
suppressMessages({library(lmerTest); library(jsonlite)})
d <- read.csv("../sleepstudy.csv", colClasses = c(Subject = "character"))
d$w <- 0.5 + (seq_len(nrow(d)) %% 4) / 2          # 0.5, 1, 1.5, 2 cycling
d$off <- 3 * d$Days + (seq_len(nrow(d)) %% 3)      # an exposure-like offset
write.csv(d, "sleepstudy_weights.csv", row.names = FALSE)
d <- read.csv("sleepstudy_weights.csv", colClasses = c(Subject = "character"))

ref <- function(m, name, args) {
  s <- summary(m)
  cf <- coef(s)
  vc <- as.data.frame(VarCorr(m))
  out <- list(
    case = name, lmm_args = args,
    nobs = nobs(m),
    fixed = lapply(seq_len(nrow(cf)), function(i) list(term = rownames(cf)[i],
      estimate = cf[i, "Estimate"], std_error = cf[i, "Std. Error"], df = cf[i, "df"],
      t = cf[i, "t value"], p = cf[i, "Pr(>|t|)"])),
    random = lapply(seq_len(nrow(vc)), function(i) list(group = vc$grp[i], term1 = vc$var1[i],
      term2 = if (is.na(vc$var2[i])) "" else vc$var2[i], vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
    loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m),
    objective = if (isREML(m)) as.numeric(REMLcrit(m)) else deviance(m),
    sigma = sigma(m), theta = unname(getME(m, "theta")),
    fitted_head = unname(head(fitted(m), 5)), residuals_head = unname(head(residuals(m), 5)))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), paste0(name, ".json"))
}
ref(lmer(Reaction ~ Days + (Days | Subject), d, weights = w), "weights_slope_reml",
    "--weights w")
ref(lmer(Reaction ~ Days + (Days | Subject), d, weights = w, REML = FALSE), "weights_slope_ml",
    "--weights w --ml")
ref(lmer(Reaction ~ Days + offset(off) + (1 | Subject), d), "offset_intercept_reml", "")
ref(lmer(Reaction ~ Days + (Days | Subject), d, offset = off), "offset_argument_reml", "--offset off")
ref(lmer(Reaction ~ Days + offset(off) + (Days | Subject), d, weights = w), "weights_offset_reml",
    "--weights w")
