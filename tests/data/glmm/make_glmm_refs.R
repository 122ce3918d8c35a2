# Generates GLMM reference fits with R's lme4::glmer for the cases in a case list. Each data set is
# written to OUTDIR/data/NAME.csv and read back from that CSV before fitting, so that column types and
# factor coding are what a CSV reader sees. Run with LC_COLLATE=C so factor levels sort by bytes (the
# first level in byte order is the reference level, treatment contrasts).
#   LC_COLLATE=C Rscript make_glmm_refs.R <cases.R> <outdir> [case-name-regex]
#
# Every fit is made as exact as lme4 can: glmer with bobyqa in both stages (maxfun 1e5), then a refit
# from that optimum (theta and beta, no nAGQ = 0 first step) with Nelder-Mead at tight tolerances;
# the fit with the larger log-likelihood is kept and both log-likelihoods are recorded. Both fits run
# PIRLS (the inner search for the conditional modes) to a relative tolerance of 1e-13 (tolPwrss)
# instead of lme4's default 1e-7: lme4 stops PIRLS on the relative change of the penalized deviance
# and takes log|L|^2 from the factorization before the last step, so at 1e-7 (and even 1e-10) the
# Laplace deviance it reports is off by up to 0.01 (VerbAgg: 8151.4128 at 1e-7 vs 8151.3997), and
# an optimizer then chases that error. The kept fit's deviance is recomputed at its parameters as a
# check (PIRLS tolerance 1e-14): loglik_recheck_warm starts PIRLS at the kept fit's linear predictor
# and is the most exact value lme4 gives (it equals loglik to 1e-8 in most cases; it differs by more
# where PIRLS had to run at a larger tolerance); loglik_recheck_cold starts it where a fresh
# evaluation does. A plain default glmer() call is timed too
# (lme4_seconds_default, loglik_default): what a user running lme4 as shipped would see.
#
# A case list defines `datasets` (name -> data.frame) and `cases`, a list of lists with
#   name, data, formula, family ("binomial" / "poisson"), link (default: canonical), nAGQ (default 1),
#   newdata (data.frame, 3 rows, for predict_link_newdata), null_formula (optional, for anova_lrt),
#   ranef_max (optional: keep only the first N levels per grouping factor in ranef[]),
#   nm_maxfun (optional, default 1e5), tol_pwrss (optional, default 1e-13), note (optional text
#   copied into the JSON), tolerances (optional list copied into the JSON, read by compare_glmm.py:
#   a case whose lme4 numbers are less precise than the default tolerances, with the reason).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(TRUE)
source(args[1])
outdir <- args[2]
only <- if (length(args) >= 3) args[3] else NULL
dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)

for (nm in names(datasets)) {
  write.csv(datasets[[nm]], file.path(outdir, "data", paste0(nm, ".csv")), row.names = FALSE, na = "NA")
}
readback <- function(nm) read.csv(file.path(outdir, "data", paste0(nm, ".csv")), stringsAsFactors = TRUE)

# Evaluates expr, collecting (and muffling) its warnings and messages, and timing it.
capture <- function(expr) {
  w <- character(0); msg <- character(0)
  t0 <- proc.time()[["elapsed"]]
  val <- withCallingHandlers(expr,
    warning = function(cond) { w <<- c(w, conditionMessage(cond)); invokeRestart("muffleWarning") },
    message = function(cond) { msg <<- c(msg, trimws(conditionMessage(cond))); invokeRestart("muffleMessage") })
  list(value = val, warnings = w, messages = msg, seconds = proc.time()[["elapsed"]] - t0)
}

conv_ok <- function(fit) {
  m <- fit$value
  length(fit$warnings) == 0 && length(m@optinfo$conv$lme4$messages) == 0 &&
    identical(as.numeric(m@optinfo$conv$opt), 0) && length(m@optinfo$warnings) == 0
}

# bobyqa fit, then a tight Nelder-Mead refit from its optimum; keeps the better one.
fit_glmm <- function(formula, d, fam, nAGQ, nm_maxfun = 1e5, tol_pwrss = 1e-13, time_default = TRUE) {
  f <- as.formula(formula)
  environment(f) <- environment()
  progress <- function(what, fit) cat(sprintf("  %s: %s loglik %.7f, %.1f s, %d evaluations\n", formula, what,
                                              as.numeric(logLik(fit$value)), fit$seconds, fit$value@optinfo$feval), file = stderr())
  dflt <- if (time_default) capture(glmer(f, data = d, family = fam, nAGQ = nAGQ)) else NULL
  if (!is.null(dflt)) progress("default glmer()", dflt)
  # lme4's PIRLS also compares the deviance after step-halving with tolPwrss in absolute terms, which
  # a large data set's round-off can exceed ("PIRLS step-halvings failed to reduce deviance"): on
  # that error the fit is repeated with a 10 times larger tolerance (recorded as tol_pwrss).
  ladder <- function(fitter) {
    tol <- tol_pwrss
    repeat {
      r <- tryCatch(fitter(tol), error = function(e) e)
      if (!inherits(r, "error")) return(list(fit = r, tol = tol))
      cat(sprintf("  %s: failed with tolPwrss %g (%s)\n", formula, tol, conditionMessage(r)), file = stderr())
      if (tol >= 1e-8) stop(r)
      tol <- tol * 10
    }
  }
  bl <- ladder(function(tol) capture(glmer(f, data = d, family = fam, nAGQ = nAGQ,
                     control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5),
                                            tolPwrss = tol))))
  b <- bl$fit; tol_pwrss <- bl$tol
  progress("bobyqa", b)
  mb <- b$value
  start <- list(theta = getME(mb, "theta"), fixef = fixef(mb))
  npar <- length(start$theta) + length(start$fixef)
  nml <- ladder(function(tol) capture(glmer(f, data = d, family = fam, nAGQ = nAGQ, start = start,
                 control = glmerControl(optimizer = "Nelder_Mead", nAGQ0initStep = FALSE, tolPwrss = tol,
                                        optCtrl = list(maxfun = nm_maxfun, FtolAbs = 1e-12, FtolRel = 1e-15,
                                                       xst = rep(0.02, npar), xt = rep(1e-9, npar))))))
  n <- nml$fit
  progress("Nelder-Mead refit", n)
  mn <- n$value
  lb <- as.numeric(logLik(mb)); ln <- as.numeric(logLik(mn))
  keep_nm <- ln > lb
  m <- if (keep_nm) mn else mb
  # recheck: the Laplace/AGQ deviance at the kept parameters, PIRLS to 1e-14 (or the smallest
  # tolerance that runs), started cold (from the initial GLM fit, as a fresh evaluation would) and
  # warm (from the kept fit's linear predictor, so that PIRLS's last step, and the error it leaves
  # in log|L|^2, is tiny). an independent exact computation confirmed the warm value to 1e-7 against an
  # independent exact evaluation on the binary growth cases.
  par <- c(getME(m, "theta"), fixef(m))
  recheck <- function(tol, warm) {
    devfun <- glmer(f, data = d, family = fam, nAGQ = nAGQ, devFunOnly = TRUE,
                    control = glmerControl(nAGQ0initStep = FALSE, tolPwrss = tol))
    if (warm) environment(devfun)$lp0 <- m@resp$eta - m@resp$offset
    -devfun(par) / 2
  }
  tol_recheck <- 1e-14
  cold <- warm <- NULL
  while (is.null(cold) && tol_recheck <= 1e-8) {
    cold <- tryCatch(recheck(tol_recheck, FALSE), error = function(e) NULL)
    warm <- tryCatch(recheck(tol_recheck, TRUE), error = function(e) NULL)
    if (is.null(cold) || is.null(warm)) { cold <- NULL; tol_recheck <- tol_recheck * 10 }
  }
  list(model = m, fit = if (keep_nm) n else b, loglik_recheck_cold = cold, loglik_recheck_warm = warm,
       tol_pwrss = tol_pwrss, tol_pwrss_nm = nml$tol, tol_pwrss_recheck = tol_recheck,
       seconds_default = if (!is.null(dflt)) dflt$seconds else NULL,
       loglik_default = if (!is.null(dflt)) as.numeric(logLik(dflt$value)) else NULL,
       converged_default = if (!is.null(dflt)) conv_ok(dflt) else NULL,
       optimizer = if (keep_nm) "Nelder_Mead" else "bobyqa",
       loglik_bobyqa = lb, loglik_nm = ln,
       feval_bobyqa = mb@optinfo$feval, feval_nm = mn@optinfo$feval,
       seconds_bobyqa = b$seconds, seconds_nm = n$seconds,
       converged_bobyqa = conv_ok(b), converged_nm = conv_ok(n),
       max_abs_par_diff = max(abs(c(getME(mb, "theta") - getME(mn, "theta"), fixef(mb) - fixef(mn)))))
}

rows_of <- function(df) lapply(seq_len(nrow(df)), function(i) {
  r <- lapply(df[i, , drop = FALSE], function(v) if (is.factor(v)) as.character(v) else v)
  r
})

fit_case <- function(cs) {
  d <- readback(cs$data)
  link <- if (is.null(cs$link)) switch(cs$family, binomial = "logit", poisson = "log") else cs$link
  fam <- get(cs$family, mode = "function")(link = link)
  nAGQ <- if (is.null(cs$nAGQ)) 1L else as.integer(cs$nAGQ)
  nm_maxfun <- if (is.null(cs$nm_maxfun)) 1e5 else cs$nm_maxfun
  tol_pwrss <- if (is.null(cs$tol_pwrss)) 1e-13 else cs$tol_pwrss
  r <- fit_glmm(cs$formula, d, fam, nAGQ, nm_maxfun, tol_pwrss)
  m <- r$model
  cf <- summary(m)$coefficients
  se_rx <- sqrt(diag(as.matrix(suppressWarnings(vcov(m, use.hessian = FALSE)))))
  fixed <- lapply(seq_len(nrow(cf)), function(i) list(
    term = rownames(cf)[i], estimate = cf[i, "Estimate"], std_error = cf[i, "Std. Error"],
    z = cf[i, "z value"], p = cf[i, "Pr(>|z|)"], std_error_rx = unname(se_rx[i])))
  vc <- as.data.frame(VarCorr(m))
  random <- lapply(seq_len(nrow(vc)), function(i) {
    rr <- list(group = vc$grp[i], term1 = if (is.na(vc$var1[i])) NULL else vc$var1[i])
    if (!is.na(vc$var2[i])) { rr$term2 <- vc$var2[i]; rr$cor <- vc$sdcor[i] } else { rr$variance <- vc$vcov[i]; rr$sd <- vc$sdcor[i] }
    rr
  })
  fl <- getME(m, "flist")
  ll <- as.numeric(logLik(m))
  out <- list(case = cs$name, data = paste0(cs$data, ".csv"), formula = cs$formula,
              family = cs$family, link = link, nAGQ = nAGQ,
              nobs = nobs(m), ngroups = lapply(fl, nlevels),
              fixed = fixed, random = random,
              loglik = ll, aic = AIC(m), bic = BIC(m), deviance = deviance(m),
              minus_twice_loglik = -2 * ll, df_resid = df.residual(m),
              theta = I(unname(getME(m, "theta"))), beta = I(unname(fixef(m))),
              singular = isSingular(m))
  re <- as.data.frame(ranef(m, condVar = TRUE))
  keys <- unique(re[, c("grpvar", "grp")])
  if (!is.null(cs$ranef_max)) {
    keys <- do.call(rbind, lapply(split(keys, as.character(keys$grpvar)), function(k) head(k, cs$ranef_max)))
    out$ranef_levels_kept <- paste("first", cs$ranef_max, "levels of each grouping factor")
  }
  re_split <- split(re, paste(re$grpvar, re$grp, sep = "\r"))
  out$ranef <- lapply(seq_len(nrow(keys)), function(i) {
    rows <- re_split[[paste(keys$grpvar[i], keys$grp[i], sep = "\r")]]
    row <- list(group = as.character(keys$grpvar[i]), level = as.character(keys$grp[i]))
    for (j in seq_len(nrow(rows))) {
      tn <- as.character(rows$term[j])
      row[[tn]] <- rows$condval[j]; row[[paste0("condsd_", tn)]] <- rows$condsd[j]
    }
    row
  })
  fv <- fitted(m)
  out$fitted_response_first10 <- unname(head(fv, 10))
  out$fitted_rows_first10 <- as.integer(head(names(fv), 10))
  if (!is.null(cs$newdata)) {
    nd <- cs$newdata
    # lmm's tests read the same rows from a CSV (tests/data/glmm/data/CASE_newdata.csv)
    write.csv(nd, file.path(outdir, "data", paste0(cs$name, "_newdata.csv")), row.names = FALSE)
    p_pop <- predict(m, newdata = nd, re.form = NA, type = "link")
    p_cond <- predict(m, newdata = nd, allow.new.levels = TRUE, type = "link")
    gnames <- names(fl)
    out$predict_link_newdata <- lapply(seq_len(nrow(nd)), function(i) {
      newlev <- Filter(function(g) {
        parts <- strsplit(g, ":", fixed = TRUE)[[1]]
        lev <- paste(sapply(parts, function(p) as.character(nd[[p]][i])), collapse = ":")
        !(lev %in% levels(fl[[g]]))
      }, gnames)
      list(row = rows_of(nd)[[i]], new_levels = I(newlev),
           re_form_na = unname(p_pop[i]), allow_new_levels = unname(p_cond[i]))
    })
  }
  if (!is.null(cs$null_formula)) {
    r0 <- fit_glmm(cs$null_formula, d, fam, nAGQ, nm_maxfun, tol_pwrss, time_default = FALSE)
    a <- anova(r0$model, m)
    out$anova_lrt <- list(null_formula = cs$null_formula,
                          npar = unname(a$npar), aic = unname(a$AIC), bic = unname(a$BIC),
                          loglik = unname(a$logLik), deviance = unname(a$deviance),
                          chisq = unname(a$Chisq[2]), df = unname(a$Df[2]), p = unname(a[["Pr(>Chisq)"]][2]),
                          null_optimizer = r0$optimizer, null_loglik_bobyqa = r0$loglik_bobyqa,
                          null_loglik_nm = r0$loglik_nm, null_converged = conv_ok(r0$fit))
  }
  out$lme4_seconds <- r$seconds_bobyqa
  out$lme4_seconds_nm_refit <- r$seconds_nm
  out$lme4_seconds_default <- r$seconds_default
  out$converged <- conv_ok(r$fit)
  out$convergence_messages <- I(unique(c(r$fit$warnings, r$model@optinfo$conv$lme4$messages)))
  out$fit_messages <- I(unique(r$fit$messages))
  out$optimizer <- r$optimizer
  out$loglik_bobyqa <- r$loglik_bobyqa
  out$loglik_nm <- r$loglik_nm
  out$loglik_recheck_warm <- r$loglik_recheck_warm
  out$loglik_recheck_cold <- r$loglik_recheck_cold
  out$tol_pwrss <- r$tol_pwrss
  out$tol_pwrss_nm <- r$tol_pwrss_nm
  out$tol_pwrss_recheck <- r$tol_pwrss_recheck
  out$loglik_default <- r$loglik_default
  out$converged_default <- r$converged_default
  out$converged_bobyqa <- r$converged_bobyqa
  out$converged_nm <- r$converged_nm
  out$feval_bobyqa <- r$feval_bobyqa
  out$feval_nm <- r$feval_nm
  out$max_abs_par_diff_bobyqa_nm <- r$max_abs_par_diff
  if (!is.null(cs$note)) out$note <- cs$note
  if (!is.null(cs$tolerances)) out$tolerances <- cs$tolerances
  out$lme4_version <- as.character(packageVersion("lme4"))
  out
}

for (cs in cases) {
  if (!is.null(only) && !grepl(only, cs$name)) next
  out <- fit_case(cs)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
             file.path(outdir, paste0(cs$name, ".json")))
  cat(sprintf("wrote %-28s nobs=%-7d loglik=%.7f bobyqa=%.7f nm=%.7f warm=%.7f cold=%.7f default=%.7f kept=%s %.1fs+%.1fs (default %.1fs) converged=%s\n",
              cs$name, out$nobs, out$loglik, out$loglik_bobyqa, out$loglik_nm, out$loglik_recheck_warm, out$loglik_recheck_cold,
              out$loglik_default, out$optimizer, out$lme4_seconds, out$lme4_seconds_nm_refit,
              out$lme4_seconds_default, out$converged))
}
