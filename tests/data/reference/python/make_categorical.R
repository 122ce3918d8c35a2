# The lme4 references for lmm's Python tests of factor coding from pandas (python/tests):
# a factor whose levels are in a non-alphabetical order (as a pandas Categorical with categories
# C, A, B) and a logical predictor (a pandas bool column); the same factor ordered (a pandas
# ordered Categorical: polynomial contrasts). Run from the repository's root:
#   LC_COLLATE=C Rscript tests/data/reference/python/make_categorical.R
suppressPackageStartupMessages({ library(lmerTest); library(jsonlite) })
cake <- read.csv("tests/data/cake.csv")
cake$recipe <- factor(cake$recipe, levels = c("C", "A", "B"))
cake$hot <- cake$temp >= 205
write_case <- function(case, formula, data) {
  m <- lmer(as.formula(formula), data = data, REML = TRUE)
  s <- summary(m)$coefficients
  out <- list(
    case = case, data = "cake.csv", formula = formula,
    levels = list(recipe = levels(data$recipe)), ordered = is.ordered(data$recipe), method = "REML",
    fixed = lapply(seq_len(nrow(s)), function(i) list(term = rownames(s)[i], estimate = s[i, "Estimate"],
      std_error = s[i, "Std. Error"], df = s[i, "df"], p = s[i, "Pr(>|t|)"])),
    loglik = as.numeric(logLik(m)), sigma = sigma(m))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path("tests/data/reference/python", paste0(case, ".json")))
}
write_case("cake_recipe_CAB_hot", "angle ~ recipe + hot + (1 | replicate)", cake)
cake$recipe <- factor(cake$recipe, levels = c("C", "A", "B"), ordered = TRUE)
write_case("cake_recipe_CAB_ordered", "angle ~ recipe * temp + (1 | replicate)", cake)
