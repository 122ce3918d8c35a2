# nlme's normalized residuals (resid(m, type = "normalized"): the conditional residuals divided by
# sigma and the row's SD ratio, premultiplied by the inverse Cholesky factor of the group's
# correlation matrix) for two reference fits: ovary_ar1 (lme, AR(1) within mare, rows in time
# order) and mmrm_us (gls, unstructured over visits with an SD per visit). The reference for the
# normalized_residual column of `lmm fit --residuals` (tests/residual_normalized_test.cpp), and
# their autocorrelation by lag, nlme's ACF(m, resType = "normalized") (lag = distance in the
# group's rows; n_used: the pairs at each lag), which the HTML report draws.
#
#   cd tests/data/residual && LC_COLLATE=C Rscript make_normalized_refs.R   writes normalized_refs.json
suppressPackageStartupMessages({ library(nlme); library(jsonlite) })
ctl <- lmeControl(maxIter = 1000, msMaxIter = 1000, msMaxEval = 5000, tolerance = 1e-10, msTol = 1e-12,
                  opt = "nlminb")
ov <- read.csv("data/ovary.csv")
m1 <- lme(follicles ~ s1 + c1, random = ~ 1 | Mare, correlation = corAR1(form = ~ t | Mare), data = ov,
          method = "REML", control = ctl)
tr <- read.csv("data/trial2.csv", stringsAsFactors = FALSE)
tr <- tr[!is.na(tr$y), ]
m2 <- gls(y ~ trt * visit, correlation = corSymm(form = ~ visit_idx | id), weights = varIdent(form = ~ 1 | visit),
          data = tr, method = "REML", control = glsControl(maxIter = 1000, msMaxIter = 1000, tolerance = 1e-10,
                                                            msTol = 1e-12, opt = "nlminb"))
acf_list <- function(m) {
  a <- ACF(m, resType = "normalized")
  list(lag = a$lag, acf = a$ACF, n_used = as.integer(attr(a, "n.used")))
}
# resid() comes back in the data's row order (both files are sorted by group and time); row: the
# CSV's data rows (1-based).
out <- list(
  ovary_ar1 = list(data = "ovary.csv", lmm_args = list("follicles ~ s1 + c1 + (1 | Mare)", "--residual", "ar1(t | Mare)"),
                   loglik = as.numeric(logLik(m1)), row = seq_len(nrow(ov)),
                   normalized = unname(as.numeric(resid(m1, type = "normalized"))), acf = acf_list(m1)),
  mmrm_us = list(data = "trial2.csv",
                 lmm_args = list("y ~ trt * visit", "--residual", "us(visit | id)", "--residual-sd-by", "visit"),
                 loglik = as.numeric(logLik(m2)), row = as.integer(rownames(tr)),
                 normalized = unname(as.numeric(resid(m2, type = "normalized"))), acf = acf_list(m2)))
cat(sprintf("ovary logLik %.8f, trial2 logLik %.8f\n", out$ovary_ar1$loglik, out$mmrm_us$loglik))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), "normalized_refs.json")
