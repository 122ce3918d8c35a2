# Reference values for the report's plot data (tests/report_data_test.cpp), from R 4.2 with lme4.
# Run from the repository root:  LC_COLLATE=C Rscript tests/data/report/make_report_refs.R
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
out <- list()

qq_ref <- function(v) {
  q <- qqnorm(v, plot.it = FALSE)
  o <- order(q$y)
  y <- quantile(v, c(0.25, 0.75)); x <- qnorm(c(0.25, 0.75))
  slope <- diff(y) / diff(x)
  list(theoretical = unname(q$x[o]), sample = unname(q$y[o]),
       line_slope = unname(slope), line_intercept = unname(y[1] - slope * x[1]))
}

# --- sleepstudy, correlated random intercept and slope ---
ss <- read.csv("tests/data/sleepstudy.csv", stringsAsFactors = TRUE)
ss$Subject <- factor(as.character(ss$Subject))
m <- lmer(Reaction ~ Days + (Days | Subject), ss, REML = TRUE)
ols <- coef(lmList(Reaction ~ Days | Subject, ss))
blup <- coef(m)$Subject
vc <- as.data.frame(VarCorr(m))
t00 <- vc$vcov[1]; t11 <- vc$vcov[2]; t01 <- vc$vcov[3]; s2 <- sigma(m)^2
tt <- 0:9
out$sleepstudy <- list(
  level = rownames(ols),
  ols_intercept = unname(ols[, 1]), ols_slope = unname(ols[, 2]),
  blup_intercept = unname(blup[rownames(ols), 1]), blup_slope = unname(blup[rownames(ols), 2]),
  population = unname(fixef(m)),
  t = tt, var_total = t00 + 2 * tt * t01 + tt^2 * t11 + s2,
  qq_residuals = qq_ref(resid(m)),
  qq_ranef_intercept = qq_ref(ranef(m)$Subject[, 1]))

# --- growth200: y ~ time * group + (time | id), some waves missing ---
g <- read.csv("tests/data/growth200.csv", stringsAsFactors = TRUE)
g <- g[!is.na(g$y), ]
g$id <- factor(as.character(g$id))
mg <- lmer(y ~ time * group + (time | id), g, REML = TRUE)
fe <- fixef(mg); re <- ranef(mg)$id
treat <- tapply(g$group == "treatment", g$id, function(x) x[1])[rownames(re)]
pop_i <- fe["(Intercept)"] + fe["grouptreatment"] * treat
pop_s <- fe["time"] + fe["time:grouptreatment"] * treat
nobs <- table(g$id)[rownames(re)]
# Each person's own line where the person has at least 2 distinct times.
own <- t(sapply(split(g, g$id, drop = TRUE), function(d)
  if (length(unique(d$time)) >= 2) coef(lm(y ~ time, d)) else c(NA, NA)))[rownames(re), ]
out$growth200 <- list(
  level = rownames(re), nobs = as.integer(nobs),
  ols_intercept = unname(own[, 1]), ols_slope = unname(own[, 2]),
  population_intercept = unname(pop_i), population_slope = unname(pop_s),
  blup_intercept = unname(pop_i + re[, 1]), blup_slope = unname(pop_s + re[, 2]))

# --- qqnorm for a small sample (ppoints uses a = 3/8 when n <= 10) ---
out$small_qq <- c(list(values = c(5, 3, 9, 1, 7, 2)), qq_ref(c(5, 3, 9, 1, 7, 2)))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE),
           "tests/data/report/report_refs.json")
