# lmerTest's type III hypotheses (the L matrices behind anova(m, type = 3)) for the two reference
# models with interactions, for tests/inference_test.cpp. Run from this folder:
#   LC_COLLATE=C Rscript make_type3_contrasts.R > type3_contrasts.json
suppressPackageStartupMessages({ library(lmerTest); library(jsonlite) })
cases <- list(
  list(name = "growth200_reml", data = "../growth200.csv", formula = y ~ time * group + (time | id)),
  list(name = "cake_factor_reml", data = "../cake.csv", formula = angle ~ recipe * temp + (1 | recipe:replicate))
)
out <- lapply(cases, function(cs) {
  d <- read.csv(cs$data, stringsAsFactors = TRUE)
  m <- lmer(cs$formula, data = d, REML = TRUE)
  L <- lmerTest:::get_contrasts_type3(m)
  list(case = cs$name, columns = colnames(model.matrix(m)),
       terms = lapply(names(L), function(t) list(term = t, L = unname(lapply(seq_len(nrow(L[[t]])), function(i) unname(L[[t]][i, ]))))))
})
cat(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "\n")
