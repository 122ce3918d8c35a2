# Generates reference fits with R's lme4 (+ lmerTest, pbkrtest, performance) for the cases in a
# case list. Data are read back from the exported CSV so that factor coding matches what a CSV
# reader sees. Run with LC_COLLATE=C so factor levels sort by bytes.
#   LC_COLLATE=C Rscript make_refs.R <cases.R> <outdir> [<datadir>]
# The CSVs go to <datadir> (default <outdir>/data); the JSON files name them relative to it, as the
# tests read them relative to tests/data. From the repository's root, everything in place:
#   LC_COLLATE=C Rscript tests/data/reference/make_refs.R tests/data/reference/cases_public.R tests/data/reference tests/data
# Copied from the project's shared reference folder (shared/reference/make_refs.R), with the
# optional <datadir> added.
suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(jsonlite); library(performance)
})
args <- commandArgs(TRUE)
source(args[1])            # defines `datasets` (name -> data.frame) and `cases` (list)
outdir <- args[2]
datadir <- if (length(args) >= 3) args[3] else file.path(outdir, "data")
dir.create(datadir, recursive = TRUE, showWarnings = FALSE)

for (nm in names(datasets)) {
  write.csv(datasets[[nm]], file.path(datadir, paste0(nm, ".csv")), row.names = FALSE, na = "NA")
}
readback <- function(nm) read.csv(file.path(datadir, paste0(nm, ".csv")), stringsAsFactors = TRUE)

num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) NULL else unname(x)

fit_case <- function(cs) {
  d <- readback(cs$data)
  f <- as.formula(cs$formula)
  t0 <- proc.time()[["elapsed"]]
  ctrl <- if (isTRUE(cs$tight)) lmerControl(optimizer = "Nelder_Mead", optCtrl = list(FtolAbs = 1e-12, FtolRel = 1e-14, maxfun = 1e5)) else lmerControl()
  m <- lmerTest::lmer(f, data = d, REML = cs$reml, control = ctrl)
  elapsed <- proc.time()[["elapsed"]] - t0
  cf <- summary(m)$coefficients
  fixed <- lapply(seq_len(nrow(cf)), function(i) list(
    term = rownames(cf)[i], estimate = cf[i, "Estimate"], std_error = cf[i, "Std. Error"],
    t = cf[i, "t value"], df_satterthwaite = cf[i, "df"], p_satterthwaite = cf[i, "Pr(>|t|)"]))
  if (isTRUE(cs$reml) && !isTRUE(cs$skip_kr)) {
    kr <- tryCatch(summary(m, ddf = "Kenward-Roger")$coefficients, error = function(e) NULL)
    if (!is.null(kr)) for (i in seq_along(fixed)) {
      fixed[[i]]$df_kr <- kr[i, "df"]; fixed[[i]]$p_kr <- kr[i, "Pr(>|t|)"]; fixed[[i]]$std_error_kr <- kr[i, "Std. Error"]
    }
  }
  vc <- as.data.frame(VarCorr(m))
  random <- lapply(seq_len(nrow(vc)), function(i) {
    r <- list(group = vc$grp[i], term1 = if (is.na(vc$var1[i])) NULL else vc$var1[i])
    if (!is.na(vc$var2[i])) { r$term2 <- vc$var2[i]; r$cor <- vc$sdcor[i] } else { r$variance <- vc$vcov[i]; r$sd <- vc$sdcor[i] }
    r
  })
  fl <- getME(m, "flist")
  ngroups <- lapply(fl, nlevels)
  out <- list(case = cs$name, data = paste0(cs$data, ".csv"), formula = cs$formula,
              method = if (cs$reml) "REML" else "ML", nobs = nobs(m), ngroups = ngroups,
              fixed = fixed, random = random,
              loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m),
              reml_criterion = if (cs$reml) unname(REMLcrit(m)) else NULL,
              deviance = if (!cs$reml) deviance(m) else NULL,
              theta = unname(getME(m, "theta")), sigma = sigma(m),
              singular = isSingular(m), lme4_seconds = elapsed)
  if (!isTRUE(cs$skip_extras)) {
    ic <- tryCatch(suppressWarnings(performance::icc(m)), error = function(e) NULL)
    if (!is.null(ic) && is.list(ic)) { out$icc_adjusted <- num(ic$ICC_adjusted); out$icc_unadjusted <- num(ic$ICC_unadjusted) }
    r2 <- tryCatch(suppressWarnings(performance::r2_nakagawa(m)), error = function(e) NULL)
    if (!is.null(r2) && is.list(r2)) { out$r2_marginal <- num(r2$R2_marginal); out$r2_conditional <- num(r2$R2_conditional) }
    re <- as.data.frame(ranef(m, condVar = TRUE))
    keys <- unique(re[, c("grpvar", "grp")])
    out$ranef <- lapply(seq_len(nrow(keys)), function(i) {
      rows <- re[re$grpvar == keys$grpvar[i] & re$grp == keys$grp[i], ]
      row <- list(group = as.character(keys$grpvar[i]), level = as.character(keys$grp[i]))
      for (j in seq_len(nrow(rows))) {
        tn <- as.character(rows$term[j])
        row[[tn]] <- rows$condval[j]; row[[paste0("condsd_", tn)]] <- rows$condsd[j]
      }
      row
    })
  }
  if (isTRUE(cs$profile)) {
    ci <- tryCatch(suppressWarnings(confint(m, method = "profile", oldNames = FALSE, quiet = TRUE)), error = function(e) NULL)
    if (!is.null(ci)) out$confint_profile <- lapply(seq_len(nrow(ci)), function(i) list(parameter = rownames(ci)[i], lower = ci[i, 1], upper = ci[i, 2]))
    cw <- confint(m, method = "Wald", oldNames = FALSE)
    cw <- cw[!is.na(cw[, 1]), , drop = FALSE]
    out$confint_wald <- lapply(seq_len(nrow(cw)), function(i) list(parameter = rownames(cw)[i], lower = cw[i, 1], upper = cw[i, 2]))
  }
  if (!is.null(cs$anova_type3) && cs$anova_type3) {
    a <- anova(m, type = 3, ddf = "Satterthwaite")
    out$anova_type3 <- lapply(seq_len(nrow(a)), function(i) list(term = rownames(a)[i], num_df = a[i, "NumDF"], den_df = a[i, "DenDF"], F = a[i, "F value"], p = a[i, "Pr(>F)"]))
  }
  if (isTRUE(cs$anova_kr)) {  # the type III table with Kenward-Roger's F tests (pbkrtest through lmerTest)
    a <- anova(m, type = 3, ddf = "Kenward-Roger")
    out$anova_type3_kr <- lapply(seq_len(nrow(a)), function(i) list(term = rownames(a)[i], num_df = a[i, "NumDF"], den_df = a[i, "DenDF"], F = a[i, "F value"], p = a[i, "Pr(>F)"]))
  }
  list(model = m, json = out)
}

models <- list()
for (cs in cases) {
  r <- fit_case(cs)
  models[[cs$name]] <- r$model
  writeLines(toJSON(r$json, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
             file.path(outdir, paste0(cs$name, ".json")))
  cat("wrote", cs$name, "\n")
}

if (exists("comparisons")) for (cp in comparisons) {
  a <- suppressMessages(anova(models[[cp$smaller]], models[[cp$larger]], refit = TRUE))
  out <- list(name = cp$name, smaller = cp$smaller, larger = cp$larger, refit_ml = TRUE,
              npar = unname(a$npar), aic = unname(a$AIC), bic = unname(a$BIC), loglik = unname(a$logLik),
              deviance = unname(a$deviance), chisq = unname(a$Chisq[2]), df = unname(a$Df[2]), p = unname(a$`Pr(>Chisq)`[2]))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(outdir, paste0("compare_", cp$name, ".json")))
  cat("wrote compare", cp$name, "\n")
}
