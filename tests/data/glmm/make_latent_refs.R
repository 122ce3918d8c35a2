# ICC and R² on the latent scale from performance (icc(), r2_nakagawa()) for binomial reference fits:
#   LC_COLLATE=C Rscript make_latent_refs.R > latent_refs.json
# Each model is fitted at the reference JSON's estimates' optimum again with glmer (bobyqa).
suppressPackageStartupMessages({ library(lme4); library(performance); library(jsonlite) })
cases <- list(
  list(name = "cbpp_binomial_laplace", data = "cbpp.csv", link = "logit",
       formula = cbind(incidence, failures) ~ period + (1 | herd)),
  list(name = "binary_growth500_logit", data = "binary_growth500.csv", link = "logit",
       formula = y ~ time * group + (time | id)),
  list(name = "binary_growth500_probit", data = "binary_growth500.csv", link = "probit",
       formula = y ~ time * group + (time | id))
)
out <- lapply(cases, function(cs) {
  d <- read.csv(file.path("data", cs$data), stringsAsFactors = TRUE)
  m <- glmer(cs$formula, data = d, family = binomial(link = cs$link),
             control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13))
  v <- suppressWarnings(insight::get_variance(m))
  i <- suppressWarnings(icc(m))
  r <- suppressWarnings(r2_nakagawa(m))
  list(case = cs$name, var_fixed = v$var.fixed, var_random = v$var.random, var_distribution = v$var.distribution,
       icc_adjusted = i$ICC_adjusted, icc_unadjusted = i$ICC_unadjusted,
       r2_marginal = unname(r$R2_marginal), r2_conditional = unname(r$R2_conditional),
       performance_version = as.character(packageVersion("performance")))
})
names(out) <- sapply(cases, `[[`, "name")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE))
