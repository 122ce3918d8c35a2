# lme4 fits that end with a convergence warning, for tests/convergence_test.cpp.
#   Rscript make_refs.R   (in this folder; lme4 1.1-31)
# sleep_big.csv is sleepstudy with DaysBig = 1000 * Days; growth_shift.csv is growth200 with
# tc = time + 100 and tb = 1000 * time + 1e5: the same models in other units, so the optimum's
# likelihood is known from the well-scaled fit.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
cases <- list(
  list(data = "sleep_big.csv", formula = "Reaction ~ Days + I(Days^2) + (Days + I(Days^2) | Subject)"),
  list(data = "sleep_big.csv", formula = "Reaction ~ DaysBig + (DaysBig | Subject)"),
  list(data = "growth_shift.csv", formula = "y ~ tc * group + (tc | id)"),
  list(data = "growth_shift.csv", formula = "y ~ tb * group + (tb | id)"))
out <- lapply(cases, function(cs) {
  d <- read.csv(cs$data, stringsAsFactors = TRUE)
  msgs <- character()
  m <- withCallingHandlers(lmer(as.formula(cs$formula), d),
                           warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
                           message = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleMessage") })
  list(data = cs$data, formula = cs$formula, loglik = as.numeric(logLik(m)), singular = isSingular(m),
       messages = c(msgs, m@optinfo$conv$lme4$messages))
})
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "lme4_convergence.json")
