# A crossed Kenward-Roger reference case: 16 subjects x 12 items with about 15 % of the cells
# missing, a condition that varies between items (within subjects) and a covariate that varies
# within both, y ~ cond * x + (1 | subj) + (1 | item). pbkrtest's KR (dense n x n there) against
# lmm's through the first term's level blocks and the items' Schur complement
# (tests/kenward_roger_unbalanced_test.cpp). Run by make_refs.R (see its header):
#   LC_COLLATE=C Rscript tests/data/reference/make_refs.R tests/data/reference/cases_kenward_roger_crossed.R tests/data/reference tests/data
library(lme4)
set.seed(17)
simulate_crossed <- function(nsubj = 16, nitem = 12, missing = 0.15) {
  d <- expand.grid(item = sprintf("I%02d", seq_len(nitem)), subj = sprintf("S%02d", seq_len(nsubj)),
                   stringsAsFactors = FALSE)[, c("subj", "item")]
  d <- d[runif(nrow(d)) > missing, ]
  u_s <- rnorm(nsubj, 0, 2.0); u_i <- rnorm(nitem, 0, 1.2)
  si <- as.integer(substr(d$subj, 2, 3)); ii <- as.integer(substr(d$item, 2, 3))
  d$cond <- ifelse(ii %% 2 == 0, "b", "a")
  d$x <- round(rnorm(nrow(d), 0, 1) + 0.3 * si / nsubj, 3)
  d$y <- round(10 + 0.8 * (d$cond == "b") + 0.5 * d$x + 0.4 * (d$cond == "b") * d$x + u_s[si] + u_i[ii] +
                 rnorm(nrow(d), 0, 1.5), 3)
  rownames(d) <- NULL
  d
}
datasets <- list(kr_crossed = simulate_crossed())
cases <- list(
  list(name = "kr_crossed_reml", data = "kr_crossed", formula = "y ~ cond * x + (1 | subj) + (1 | item)",
       reml = TRUE, tight = TRUE, anova_type3 = TRUE, anova_kr = TRUE)
)
