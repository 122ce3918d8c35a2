# Reference profile-likelihood intervals of a GLMM, as lme4's confint(m, method = "profile"):
# cbpp, cbind(incidence, failures) ~ period + (1 | herd), binomial logit, Laplace (nAGQ = 1).
# The data are read back from tests/data/glmm/data/cbpp.csv (what lmm reads). Run from the repo root:
#   LC_COLLATE=C Rscript tests/data/glmm/make_profile.R
# writes tests/data/glmm/cbpp_profile.json. Parameter names are lmm's: lme4's .sig01 (the herd SD)
# is "sd_(Intercept)|herd". lme4 evaluates zeta on a grid of points and interpolates the interval
# ends with splines (R/profile.R, confint.thpr), so its ends carry an interpolation error of about
# 1e-3; the test compares with that tolerance. The fit is made with tight settings (bobyqa, PIRLS
# tolerance 1e-13) so that the optimum itself is not a source of difference.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
d <- read.csv("tests/data/glmm/data/cbpp.csv")
d$herd <- factor(d$herd)
d$period <- factor(d$period)
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-13)
m <- glmer(cbind(incidence, failures) ~ period + (1 | herd), data = d, family = binomial, control = ctrl)
ci <- confint(m, method = "profile", level = 0.95)
est <- c(getME(m, "theta"), fixef(m))  # binomial: sigma = 1, so theta is the SD
names_lmm <- c("sd_(Intercept)|herd", names(fixef(m)))
out <- list(
  formula = "cbind(incidence, failures) ~ period + (1 | herd)",
  lme4_version = as.character(packageVersion("lme4")),
  loglik = as.numeric(logLik(m)),
  note = paste("confint(m, method = 'profile'): lme4 interpolates the ends with splines through a grid of",
               "zeta values; compare to about 1e-3"),
  intervals = lapply(seq_along(names_lmm), function(i)
    list(parameter = names_lmm[i], estimate = unname(est[i]),
         lower = unname(ci[i, 1]), upper = unname(ci[i, 2]))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(12), pretty = TRUE), "tests/data/glmm/cbpp_profile.json")
