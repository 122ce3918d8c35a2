# Profile-likelihood intervals from lme4 for cases the shared references do not profile: crossed,
# nested with a variance at 0, and a singular fit. Run from this folder with
#   LC_COLLATE=C Rscript make_profile_extra.R
# (R 4.2, lme4 1.1-31, jsonlite); writes profile_extra.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
cases <- list(
  list(data = "penicillin.csv", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  list(data = "pastes.csv", formula = "strength ~ 1 + (1 | batch/cask)"),
  list(data = "dyestuff2.csv", formula = "Yield ~ 1 + (1 | Batch)"))
out <- lapply(cases, function(cs) {
  d <- read.csv(file.path("..", cs$data), stringsAsFactors = TRUE)
  m <- lmer(as.formula(cs$formula), d)
  ci <- suppressWarnings(suppressMessages(confint(m, method = "profile", oldNames = FALSE, quiet = TRUE)))
  list(data = cs$data, formula = cs$formula, sigma = sigma(m),
       confint_profile = lapply(seq_len(nrow(ci)), function(i)
         list(parameter = rownames(ci)[i], lower = ci[i, 1], upper = ci[i, 2])))
})
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "profile_extra.json")
