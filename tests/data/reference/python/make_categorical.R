# The lme4 reference for lmm's Python tests of factor coding from pandas (python/tests):
# a factor whose levels are in a non-alphabetical order (as a pandas Categorical with categories
# C, A, B), and a logical predictor (a pandas bool column). Run from the repository's root:
#   LC_COLLATE=C Rscript tests/data/reference/python/make_categorical.R
suppressPackageStartupMessages({ library(lmerTest); library(jsonlite) })
cake <- read.csv("tests/data/cake.csv")
cake$recipe <- factor(cake$recipe, levels = c("C", "A", "B"))
cake$hot <- cake$temp >= 205
m <- lmer(angle ~ recipe + hot + (1 | replicate), data = cake, REML = TRUE)
s <- summary(m)$coefficients
out <- list(
  case = "cake_recipe_CAB_hot", data = "cake.csv",
  formula = "angle ~ recipe + hot + (1 | replicate)",
  levels = list(recipe = levels(cake$recipe)), method = "REML",
  fixed = lapply(seq_len(nrow(s)), function(i) list(term = rownames(s)[i], estimate = s[i, "Estimate"],
    std_error = s[i, "Std. Error"], df = s[i, "df"], p = s[i, "Pr(>|t|)"])),
  loglik = as.numeric(logLik(m)), sigma = sigma(m))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/data/reference/python/cake_recipe_CAB_hot.json")
