# Estimated marginal means and pairwise contrasts as emmeans 1.8.4-1 reports them for lmer fits
# (lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2), for tests/emmeans_test.cpp, and R's ptukey on a
# grid. Run from this folder (writes cake_hot.csv, emmeans_refs.json and ptukey_refs.json):
#   LC_COLLATE=C Rscript make_refs.R
suppressPackageStartupMessages({ library(lmerTest); library(emmeans); library(jsonlite) })
growth <- read.csv("../growth200.csv", stringsAsFactors = TRUE)
cake <- read.csv("../cake.csv", stringsAsFactors = TRUE)
# A 0/1 covariate, unbalanced (40% ones): emmeans keeps both values (cov.keep = "2") and averages.
hot <- cake
hot$hot <- as.numeric(hot$temp > 200)
hot <- hot[!(hot$hot == 1 & hot$replicate <= 5), ]
write.csv(hot, "cake_hot.csv", row.names = FALSE)
hot <- read.csv("cake_hot.csv", stringsAsFactors = TRUE)
m_growth <- lmer(y ~ time * group + (time | id), data = growth, REML = TRUE)
m_cake <- lmer(angle ~ recipe * factor(temp) + (1 | recipe:replicate), data = cake, REML = TRUE)
m_hot <- lmer(angle ~ recipe * hot + temp + (1 | recipe:replicate), data = hot, REML = TRUE)
models <- list(
  growth = list(data = "growth200.csv", formula = "y ~ time * group + (time | id)", fit = m_growth),
  cake = list(data = "cake.csv", formula = "angle ~ recipe * factor(temp) + (1 | recipe:replicate)", fit = m_cake),
  hot = list(data = "emmeans/cake_hot.csv", formula = "angle ~ recipe * hot + temp + (1 | recipe:replicate)", fit = m_hot))
cases <- list(
  list(model = "growth", specs = "group", by = "time", at = list(time = c(0, 2, 4)), adjust = "tukey"),
  list(model = "growth", specs = "group", by = character(0), at = list(), adjust = "tukey"),
  list(model = "cake", specs = "recipe", by = character(0), at = list(), adjust = "tukey"),
  list(model = "cake", specs = "recipe", by = character(0), at = list(), adjust = "holm"),
  list(model = "cake", specs = "temp", by = character(0), at = list(), adjust = "tukey"),
  list(model = "cake", specs = "temp", by = character(0), at = list(), adjust = "holm"),
  list(model = "cake", specs = "recipe", by = "temp", at = list(), adjust = "tukey"),
  list(model = "cake", specs = c("recipe", "temp"), by = character(0), at = list(), adjust = "tukey"),
  list(model = "cake", specs = "temp", by = character(0), at = list(), adjust = "none"),
  list(model = "hot", specs = "recipe", by = character(0), at = list(), adjust = "tukey"),
  list(model = "hot", specs = "recipe", by = "hot", at = list(temp = c(180, 220)), adjust = "holm"))
rows <- function(df) lapply(seq_len(nrow(df)), function(i) {
  r <- as.list(df[i, , drop = FALSE])
  lapply(r, function(v) if (is.factor(v)) as.character(v) else v)
})
out <- list()
for (cs in cases) for (ddf in c("satterthwaite", "kenward-roger")) {
  md <- models[[cs$model]]
  by <- if (length(cs$by)) cs$by else NULL
  e <- emmeans(md$fit, specs = cs$specs, by = by, at = cs$at, lmer.df = ddf)
  pr <- pairs(e, adjust = cs$adjust)
  em <- as.data.frame(summary(e))
  ct <- as.data.frame(summary(pr))
  out[[length(out) + 1]] <- list(
    data = md$data, formula = md$formula, specs = cs$specs, by = cs$by,
    at = if (length(cs$at)) cs$at else setNames(list(), character(0)), ddf = ddf, adjust = cs$adjust,
    emmeans = rows(em), contrasts = rows(ct))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "emmeans_refs.json")

# ptukey(q, nmeans, df, lower.tail = FALSE) on a grid (R requires df >= 2).
grid <- expand.grid(q = c(0.5, 1, 2, 3, 4.5, 6, 8), nmeans = c(2, 3, 6, 18), df = c(2.5, 5, 42.7, 210, Inf))
grid$p <- mapply(function(q, k, df) ptukey(q, k, df, lower.tail = FALSE), grid$q, grid$nmeans, grid$df)
writeLines(toJSON(grid, digits = NA, pretty = TRUE), "ptukey_refs.json")
