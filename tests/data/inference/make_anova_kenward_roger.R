# lmerTest's type III ANOVA with Kenward-Roger's F tests (pbkrtest 0.5.2's KRmodcomp) for the two
# reference models with interactions, for tests/inference_reference_test.cpp. Run from this folder:
#   LC_COLLATE=C Rscript make_anova_kenward_roger.R > anova_kenward_roger.json
suppressPackageStartupMessages({ library(lmerTest); library(jsonlite) })
cases <- list(
  list(name = "growth200_reml", data = "../growth200.csv", formula = y ~ time * group + (time | id)),
  list(name = "cake_factor_reml", data = "../cake.csv", formula = angle ~ recipe * temp + (1 | recipe:replicate))
)
out <- lapply(cases, function(cs) {
  d <- read.csv(cs$data, stringsAsFactors = TRUE)
  m <- lmer(cs$formula, data = d, REML = TRUE)
  a <- anova(m, type = 3, ddf = "Kenward-Roger")
  list(case = cs$name, anova_type3 = lapply(seq_len(nrow(a)), function(i) list(
    term = rownames(a)[i], num_df = a[i, "NumDF"], den_df = a[i, "DenDF"], F = a[i, "F value"], p = a[i, "Pr(>F)"])))
})
cat(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "\n")
