# nlme's anova() of two REML fits that differ only in their residual structure (the same fixed
# effects, so that REML criteria are comparable, as anova.lme allows): Ovary with a random
# intercept per mare, independent residuals against AR(1) within mare. The reference for
# `lmm compare --reml` with one --residual per model (tests/residual_compare_test.cpp).
#
#   cd tests/data/residual && LC_COLLATE=C Rscript make_compare_refs.R    writes compare_ovary.json
suppressPackageStartupMessages({ library(nlme); library(jsonlite) })
d <- read.csv("data/ovary.csv")
ctl <- lmeControl(maxIter = 1000, msMaxIter = 1000, msMaxEval = 5000, tolerance = 1e-10, msTol = 1e-12,
                  opt = "nlminb")
m0 <- lme(follicles ~ s1 + c1, random = ~ 1 | Mare, data = d, method = "REML", control = ctl)
m1 <- lme(follicles ~ s1 + c1, random = ~ 1 | Mare, correlation = corAR1(form = ~ t | Mare), data = d,
          method = "REML", control = ctl)
a <- anova(m0, m1)
print(a)
out <- list(
  data = "ovary.csv", formula = "follicles ~ s1 + c1 + (1 | Mare)",
  residual = list("none", "ar1(t | Mare)"),
  nlme_call = "anova(lme(follicles ~ s1 + c1, random = ~ 1 | Mare), update(., correlation = corAR1(form = ~ t | Mare)))",
  npar = a$df, aic = a$AIC, bic = a$BIC, loglik = a$logLik,
  chisq = a$L.Ratio[2], df = a$df[2] - a$df[1], p = a$`p-value`[2])
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "compare_ovary.json")
