# Wald intervals of the residual structure's parameters from nlme's intervals() (95%, on nlme's
# unconstrained scale and transformed back), for tests/residual_test.cpp.
#   cd tests/data/residual && LC_COLLATE=C Rscript make_interval_refs.R > intervals.json
suppressPackageStartupMessages({ library(nlme); library(jsonlite) })
ctl <- lmeControl(maxIter = 1000, msMaxIter = 1000, msMaxEval = 5000, tolerance = 1e-10, msTol = 1e-12)
ss <- read.csv("data/sleepstudy.csv", stringsAsFactors = TRUE)
ov <- read.csv("data/ovary.csv", stringsAsFactors = TRUE)
od <- read.csv("data/orthodont.csv", stringsAsFactors = TRUE)
tr <- read.csv("data/trial2.csv", stringsAsFactors = TRUE)
row <- function(ci, name) { x <- ci[name, ]; list(lower = unname(x[1]), estimate = unname(x[2]), upper = unname(x[3])) }
m1 <- lme(Reaction ~ Days, random = ~ 1 | Subject, correlation = corAR1(form = ~ Days | Subject), data = ss,
          method = "ML", control = ctl)
m2 <- lme(follicles ~ s1 + c1, random = ~ 1 | Mare, correlation = corAR1(form = ~ t | Mare), data = ov, control = ctl)
m3 <- lme(distance ~ age * Sex, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex), data = od, control = ctl)
i3 <- intervals(m3, which = "var-cov")$varStruct  # Male relative to Female (nlme's reference here)
# The MMRM of mmrm_us.json: corSymm's correlations (nlme's interval is on the Fisher-z scale,
# corNatural's log((1 + r)/(1 - r))) and the SD ratios of visits 2 to 4.
m4 <- gls(y ~ trt * visit, correlation = corSymm(value = rep(0.3, 6), form = ~ visit_idx | id),
          weights = varIdent(value = c(V2 = 1.2, V3 = 1.2, V4 = 1.2), form = ~ 1 | visit), data = tr, method = "REML",
          na.action = na.omit, control = glsControl(maxIter = 1000, msMaxIter = 1000, tolerance = 1e-10, msTol = 1e-12,
                                                    opt = "optim", returnObject = TRUE))
i4 <- intervals(m4, which = "var-cov")
us <- list()
for (a in 1:3) for (b in (a + 1):4)
  us[[sprintf("cor_V%d,V%d", a, b)]] <- row(i4$corStruct, sprintf("cor(%d,%d)", a, b))
for (v in c("V2", "V3", "V4")) us[[paste0("ratio_", v)]] <- row(i4$varStruct, v)
out <- list(sleepstudy_ar1_ml = list(phi = row(intervals(m1, which = "var-cov")$corStruct, "Phi")),
            ovary_ar1 = list(phi = row(intervals(m2, which = "var-cov")$corStruct, "Phi")),
            orthodont_varident = list(ratio_Male = row(i3, "Male")),
            mmrm_us = us)
cat(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "\n")
