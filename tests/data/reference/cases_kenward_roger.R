# A Kenward-Roger reference case where the adjustment matters: 8 persons (4 per group) observed at
# 2 to 10 of the waves 0..9 (heavy, unequal missingness), y ~ time * group + (time | id). pbkrtest's
# adjusted SEs are 2.5-5.3 % larger than the unadjusted ones (on the other reference cases at most
# 0.09 %), so a Kenward-Roger that skips the adjustment fails tests/kenward_roger_unbalanced_test.cpp.
# Run by make_refs.R (see its header):
#   LC_COLLATE=C Rscript tests/data/reference/make_refs.R tests/data/reference/cases_kenward_roger.R tests/data/reference tests/data
library(lme4)
set.seed(2)
simulate_unbalanced <- function(nobs_per = c(2, 10, 3, 9, 2, 10, 4, 3), group = rep(c("a", "b"), each = 4)) {
  rows <- list()
  for (i in seq_along(nobs_per)) {
    t <- sort(sample(0:9, nobs_per[i]))
    u0 <- rnorm(1, 0, 6); u1 <- rnorm(1, 0, 1.2)
    y <- 20 + u0 + (1 + 0.8 * (group[i] == "b") + u1) * t + rnorm(length(t), 0, 3)
    rows[[i]] <- data.frame(id = sprintf("S%02d", i), time = t, group = group[i], y = round(y, 3))
  }
  do.call(rbind, rows)
}
datasets <- list(kr_unbalanced = simulate_unbalanced())
cases <- list(
  list(name = "kr_unbalanced_reml", data = "kr_unbalanced", formula = "y ~ time * group + (time | id)",
       reml = TRUE, tight = TRUE, anova_type3 = TRUE)
)
