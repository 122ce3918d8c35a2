# Reference values for tests/trajectories_test.cpp, made with R 4.2 and lme4 1.1-31:
#   LC_COLLATE=C Rscript make_trajectory_refs.R   (run in this folder; writes trajectory_reference.json)
# - shrinkage: each person's own least-squares fit (lmList) and the mixed model's person-specific
#   intercept and slope (fixed effects including the group terms, plus the random effects) for growth200.
# - predict: lme4's predict() on new rows with known and new levels, conditional and population level.
suppressMessages({library(lme4); library(jsonlite)})
growth <- read.csv("../growth200.csv", stringsAsFactors = TRUE)
m <- lmer(y ~ time * group + (time | id), data = growth, REML = TRUE)
ols <- coef(lmList(y ~ time | id, data = na.omit(growth)))
n <- table(na.omit(growth)$id)
fe <- fixef(m); re <- ranef(m)$id
g <- tapply(growth$group == "treatment", growth$id, function(x) x[1])
blup_int <- fe["(Intercept)"] + fe["grouptreatment"] * g[rownames(re)] + re[, "(Intercept)"]
blup_slope <- fe["time"] + fe["time:grouptreatment"] * g[rownames(re)] + re[, "time"]
shrink <- lapply(rownames(re), function(l) list(
  level = l, n = as.integer(n[l]),
  ols_intercept = if (is.na(ols[l, "time"])) NULL else ols[l, "(Intercept)"],
  ols_slope = if (is.na(ols[l, "time"])) NULL else ols[l, "time"],
  blup_intercept = unname(blup_int[l]), blup_slope = unname(blup_slope[l])))

sleep <- read.csv("../sleepstudy.csv", stringsAsFactors = FALSE)
sleep$Subject <- factor(sleep$Subject)
ms <- lmer(Reaction ~ Days + (Days | Subject), data = sleep)
new_sleep <- data.frame(Subject = factor(c("308", "309", "999", "372")), Days = c(0, 4.5, 3, 9))
cake <- read.csv("../cake.csv", stringsAsFactors = TRUE)
mc <- lmer(angle ~ recipe * temp + (1 | recipe:replicate), data = cake)
new_cake <- data.frame(recipe = factor(c("A", "B", "C", "A")), temp = c(175, 200, 225, 190),
                       replicate = c(1L, 7L, 15L, 16L))
pred <- list(
  sleepstudy = list(data = "sleepstudy.csv", formula = "Reaction ~ Days + (Days | Subject)",
                    new = new_sleep,
                    conditional = unname(predict(ms, newdata = new_sleep, allow.new.levels = TRUE)),
                    population = unname(predict(ms, newdata = new_sleep, re.form = NA))),
  cake = list(data = "cake.csv", formula = "angle ~ recipe * temp + (1 | recipe:replicate)",
              new = new_cake,
              conditional = unname(predict(mc, newdata = new_cake, allow.new.levels = TRUE)),
              population = unname(predict(mc, newdata = new_cake, re.form = NA))))
out <- list(lme4 = as.character(packageVersion("lme4")),
            shrinkage_growth200 = list(formula = "y ~ time * group + (time | id)", rows = shrink),
            predict = pred)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "trajectory_reference.json")
