# Reference cases for the binomial family's other links (probit, cloglog), for make_glmm_refs.R:
#   LC_COLLATE=C Rscript make_glmm_refs.R cases_glmm_links.R OUTDIR
# (lmm keeps the JSONs in tests/data/glmm/links/; the data sets are those of cases_glmm_public.R.)
source("cases_glmm_public.R")
datasets <- datasets[c("cbpp", "binary_growth500")]
cases <- list(
  list(name = "cbpp_binomial_probit", data = "cbpp", family = "binomial", link = "probit", nAGQ = 1,
       formula = "cbind(incidence, failures) ~ period + (1 | herd)",
       newdata = data.frame(period = c("P1", "P3", "P4"), herd = c(1L, 7L, 99L))),
  list(name = "cbpp_binomial_cloglog_agq5", data = "cbpp", family = "binomial", link = "cloglog", nAGQ = 5,
       formula = "cbind(incidence, failures) ~ period + (1 | herd)",
       newdata = data.frame(period = c("P1", "P3", "P4"), herd = c(1L, 7L, 99L))),
  list(name = "binary_growth500_probit", data = "binary_growth500", family = "binomial", link = "probit", nAGQ = 1,
       formula = "y ~ time * group + (time | id)",
       newdata = data.frame(id = c("P001", "P999", "P002"), time = c(2L, 3L, 5L),
                            group = c("control", "treatment", "treatment")))
)
