# Confidence intervals of the population mean of a GLMM (random effects at 0), as emmeans reports
# them for a glmer fit: Wald on the link scale from vcov(m) (lme4's Hessian-based covariance),
# normal quantiles (asymptotic df), then the inverse link. For `lmm predict --re-form none
# --interval confidence` of a saved GLMM (tests/glmm_test.cpp):
#   LC_COLLATE=C Rscript make_predict_ci.R > predict_ci.json
suppressPackageStartupMessages({ library(lme4); library(emmeans); library(jsonlite) })
d <- read.csv("data/cbpp.csv", stringsAsFactors = TRUE)
m <- glmer(cbind(incidence, failures) ~ period + (1 | herd), data = d, family = binomial,
           control = glmerControl(optimizer = "bobyqa", tolPwrss = 1e-13))
link <- as.data.frame(summary(emmeans(m, ~ period), level = 0.95))
resp <- as.data.frame(summary(emmeans(m, ~ period, type = "response"), level = 0.95))
out <- list(case = "cbpp_binomial_laplace", formula = "cbind(incidence, failures) ~ period + (1 | herd)",
            data = "cbpp.csv", level = 0.95, period = as.character(link$period),
            link_fit = link$emmean, link_se = link$SE, link_lower = link$asymp.LCL, link_upper = link$asymp.UCL,
            response_fit = resp$prob, response_lower = resp$asymp.LCL, response_upper = resp$asymp.UCL,
            emmeans_version = as.character(packageVersion("emmeans")),
            lme4_version = as.character(packageVersion("lme4")))
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE))
