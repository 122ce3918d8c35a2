# lme4's fits of models without fixed effects (p = 0), for tests/hostile_test.cpp.
# Rscript tests/data/bad/no_fixed_effects.R > tests/data/bad/no_fixed_effects.json (from the repository root)
suppressMessages(library(lme4))
d <- read.csv("tests/data/sleepstudy.csv")
d$Subject <- factor(d$Subject)
m1 <- lmer(Reaction ~ 0 + (1 | Subject), d)
m2 <- lmer(Reaction ~ 0 + (Days | Subject), d, REML = FALSE)
f <- function(x) sprintf("%.12g", x)
cat(sprintf('{\n  "reml_intercept": {"formula": "Reaction ~ 0 + (1 | Subject)", "reml_criterion": %s, "sigma": %s, "theta": [%s]},\n',
            f(REMLcrit(m1)), f(sigma(m1)), paste(f(getME(m1, "theta")), collapse = ", ")))
cat(sprintf('  "ml_slope": {"formula": "Reaction ~ 0 + (Days | Subject)", "deviance": %s, "sigma": %s, "theta": [%s]}\n}\n',
            f(deviance(m2)), f(sigma(m2)), paste(f(getME(m2, "theta")), collapse = ", ")))
