# ICC and R² on the latent scale from performance (icc(), r2_nakagawa()) for binomial and Poisson
# reference fits:
#   LC_COLLATE=C Rscript make_latent_refs.R > latent_refs.json
# Each model is fitted at the reference JSON's estimates' optimum again with glmer (bobyqa).
# Poisson (log link): insight 0.19's distribution variance is log1p(1/lambda), lambda = exp(the
# intercept of insight::null_model(m)), refitted here as insight does; null_intercept records it.
# grouseticks_poisson_olre adds an observation-level random effect (1 | obs), obs the row number,
# which insight counts as dispersion (var_dispersion), not as random-effect variance.
suppressPackageStartupMessages({ library(lme4); library(performance); library(jsonlite) })
cases <- list(
  list(name = "cbpp_binomial_laplace", data = "cbpp.csv", link = "logit",
       formula = cbind(incidence, failures) ~ period + (1 | herd)),
  list(name = "binary_growth500_logit", data = "binary_growth500.csv", link = "logit",
       formula = y ~ time * group + (time | id)),
  list(name = "binary_growth500_probit", data = "binary_growth500.csv", link = "probit",
       formula = y ~ time * group + (time | id)),
  list(name = "grouseticks_poisson_crossed", data = "grouseticks.csv", family = "poisson",
       formula = TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)),
  list(name = "grouseticks_poisson_olre", data = "grouseticks.csv", family = "poisson",
       formula = TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | obs)),
  list(name = "exposure_poisson_offset", data = "exposure_counts.csv", family = "poisson",
       formula = count ~ x + offset(log_exposure) + (1 | site))
)
# A top-level loop: insight::null_model() refits by update(), which evaluates the call's names
# (data, formula, family) again, here.
out <- list()
for (cs in cases) {
  d <- read.csv(file.path("data", cs$data), stringsAsFactors = TRUE)
  d$obs <- factor(seq_len(nrow(d)))
  fam <- if (is.null(cs$family)) binomial(link = cs$link) else poisson()
  m <- glmer(cs$formula, data = d, family = fam,
             control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13))
  null_b0 <- if (is.null(cs$family)) NA else unname(fixef(insight::null_model(m))[1])
  v <- suppressWarnings(insight::get_variance(m))
  i <- suppressWarnings(icc(m))
  r <- suppressWarnings(r2_nakagawa(m))
  out[[cs$name]] <- list(case = cs$name, formula = deparse(cs$formula), data = cs$data, family = fam$family, link = fam$link,
       null_intercept = null_b0, var_dispersion = v$var.dispersion, var_fixed = v$var.fixed,
       var_random = v$var.random, var_distribution = v$var.distribution,
       icc_adjusted = i$ICC_adjusted, icc_unadjusted = i$ICC_unadjusted,
       r2_marginal = unname(r$R2_marginal), r2_conditional = unname(r$R2_conditional),
       performance_version = as.character(packageVersion("performance")),
       insight_version = as.character(packageVersion("insight")))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE))
