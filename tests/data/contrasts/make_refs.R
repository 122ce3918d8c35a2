# Reference fits for reference levels, contrasts and formula functions (relevel, factor(levels =),
# C(x, contr.sum / contr.helmert), ordered(), --contrasts sum, --ref, poly(), poly(raw = TRUE),
# scale(), %in%, factor() in a grouping term), for tests/contrasts_reference_test.cpp. lme4 fits with
# lmerTest's Satterthwaite df and type III ANOVA; population predictions at new values of Days for
# poly() and scale() (R's makepredictcall: the training data's coefficients). Run from this folder:
#   LC_COLLATE=C Rscript make_refs.R > contrasts.json
suppressPackageStartupMessages({ library(lmerTest); library(jsonlite) })
read <- function(f) read.csv(file.path("..", f), stringsAsFactors = TRUE)
cake <- read("cake.csv")
sleep <- read("sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
cake_ref_c <- cake
cake_ref_c$recipe <- relevel(cake_ref_c$recipe, "C")
new_days <- data.frame(Days = c(0, 2.5, 4.5, 12))
cases <- list(
  list(name = "relevel", data = "cake.csv", d = cake,
       formula = "angle ~ relevel(recipe, \"C\") + temp + (1 | recipe:replicate)"),
  list(name = "ref_option", data = "cake.csv", d = cake_ref_c, options = list(ref = list(recipe = "C")),
       formula = "angle ~ recipe * temp + (1 | recipe:replicate)"),
  list(name = "factor_levels", data = "cake.csv", d = cake,
       formula = "angle ~ factor(recipe, levels = c(\"B\", \"C\", \"A\")) + temp + (1 | recipe:replicate)"),
  list(name = "sum", data = "cake.csv", d = cake,
       formula = "angle ~ C(recipe, contr.sum) * temp + (1 | recipe:replicate)"),
  list(name = "sum_option", data = "cake.csv", d = cake, options = list(contrasts = "sum"),
       formula = "angle ~ recipe * factor(temp) + (1 | recipe:replicate)"),
  list(name = "helmert", data = "cake.csv", d = cake,
       formula = "angle ~ C(recipe, contr.helmert) + temp + (1 | recipe:replicate)"),
  list(name = "ordered", data = "cake.csv", d = cake,
       formula = "angle ~ recipe + ordered(temp) + (1 | recipe:replicate)"),
  list(name = "in", data = "cake.csv", d = cake,
       formula = "angle ~ recipe + temp %in% recipe + (1 | recipe:replicate)"),
  list(name = "poly", data = "sleepstudy.csv", d = sleep, newdata = new_days,
       formula = "Reaction ~ poly(Days, 2) + (Days | Subject)"),
  list(name = "poly_raw", data = "sleepstudy.csv", d = sleep, newdata = new_days,
       formula = "Reaction ~ poly(Days, 2, raw = TRUE) + (Days | Subject)"),
  list(name = "scale", data = "sleepstudy.csv", d = sleep, newdata = new_days,
       formula = "Reaction ~ scale(Days) + (Days | Subject)"),
  # lme4 cannot evaluate factor() in a grouping term; (1 | factor(Subject)) groups as (1 | Subject)
  # with Subject a factor, which is the reference.
  list(name = "factor_grouping", data = "sleepstudy.csv", d = sleep,
       formula = "Reaction ~ Days + (1 | factor(Subject))", r_formula = "Reaction ~ Days + (1 | Subject)")
)
out <- lapply(cases, function(cs) {
  old <- options(contrasts = c(if (identical(cs$options$contrasts, "sum")) "contr.sum" else "contr.treatment",
                               "contr.poly"))
  on.exit(options(old))
  m <- lmer(as.formula(if (is.null(cs$r_formula)) cs$formula else cs$r_formula), data = cs$d, REML = TRUE)
  s <- summary(m)$coefficients
  a <- anova(m, type = 3)
  r <- list(case = cs$name, data = cs$data, formula = cs$formula, method = "REML",
    fixed = lapply(seq_len(nrow(s)), function(i) list(term = rownames(s)[i], estimate = s[i, "Estimate"],
      std_error = s[i, "Std. Error"], df = s[i, "df"], p = s[i, "Pr(>|t|)"])),
    loglik = as.numeric(logLik(m)), reml_criterion = unname(REMLcrit(m)), sigma = sigma(m),
    theta = unname(getME(m, "theta")),
    anova_type3 = lapply(seq_len(nrow(a)), function(i) list(term = rownames(a)[i], num_df = a[i, "NumDF"],
      den_df = a[i, "DenDF"], F = a[i, "F value"], p = a[i, "Pr(>F)"])))
  if (!is.null(cs$options)) r$options <- cs$options
  if (!is.null(cs$newdata)) r$predict <- list(Days = cs$newdata$Days,
    population = unname(predict(m, newdata = cs$newdata, re.form = NA)))
  r
})
cat(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "\n")
