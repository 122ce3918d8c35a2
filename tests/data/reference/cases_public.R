# Public reference cases (tests/data/reference/*.json): copied from the project's shared reference
# folder (shared/reference/cases_public.R). Run by make_refs.R; see its header.
library(lme4)
set.seed(20261125)
simulate_growth <- function(n = 200, waves = 0:4) {
  id <- rep(seq_len(n), each = length(waves)); time <- rep(waves, n)
  group <- rep(sample(c("control", "treatment"), n, replace = TRUE), each = length(waves))
  S <- matrix(c(8^2, -0.3 * 8 * 1.5, -0.3 * 8 * 1.5, 1.5^2), 2)
  u <- MASS::mvrnorm(n, c(0, 0), S)
  y <- 50 + u[id, 1] + (2 + 1.0 * (group == "treatment") + u[id, 2]) * time + rnorm(length(id), 0, 4)
  d <- data.frame(id = sprintf("P%03d", id), time = time, group = group, y = round(y, 3))
  # missing at random: later waves more often missing when the earlier score was low
  drop <- with(d, time > 0 & runif(nrow(d)) < 0.05 + 0.1 * (time / 4))
  d$y[drop] <- NA
  d
}
sleep_unbal <- sleepstudy; sleep_unbal$Reaction[seq(7, 180, by = 9)] <- NA
datasets <- list(
  sleepstudy = sleepstudy[, c("Subject", "Days", "Reaction")],
  sleepstudy_missing = sleep_unbal[, c("Subject", "Days", "Reaction")],
  growth200 = simulate_growth(),
  penicillin = Penicillin,
  pastes = Pastes[, c("strength", "batch", "cask")],
  cake = transform(cake[, c("replicate", "recipe", "temp", "angle")], replicate = as.integer(replicate)),
  dyestuff2 = Dyestuff2
)
cases <- list(
  list(name = "sleepstudy_slope_reml", data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE, profile = TRUE),
  list(name = "sleepstudy_slope_ml", data = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)", reml = FALSE),
  list(name = "sleepstudy_intercept_reml", data = "sleepstudy", formula = "Reaction ~ Days + (1 | Subject)", reml = TRUE),
  list(name = "sleepstudy_intercept_ml", data = "sleepstudy", formula = "Reaction ~ Days + (1 | Subject)", reml = FALSE),
  list(name = "sleepstudy_zerocorr_reml", data = "sleepstudy", formula = "Reaction ~ Days + (Days || Subject)", reml = TRUE),
  list(name = "sleepstudy_missing_reml", data = "sleepstudy_missing", formula = "Reaction ~ Days + (Days | Subject)", reml = TRUE),
  list(name = "growth200_reml", data = "growth200", formula = "y ~ time * group + (time | id)", reml = TRUE, anova_type3 = TRUE),
  list(name = "growth200_ml", data = "growth200", formula = "y ~ time * group + (time | id)", reml = FALSE),
  list(name = "growth200_null_reml", data = "growth200", formula = "y ~ 1 + (1 | id)", reml = TRUE),
  list(name = "penicillin_crossed_reml", data = "penicillin", formula = "diameter ~ 1 + (1 | plate) + (1 | sample)", reml = TRUE),
  list(name = "pastes_nested_reml", data = "pastes", formula = "strength ~ 1 + (1 | batch/cask)", reml = TRUE),
  list(name = "cake_factor_reml", data = "cake", formula = "angle ~ recipe * temp + (1 | recipe:replicate)", reml = TRUE, anova_type3 = TRUE),
  list(name = "dyestuff2_singular_reml", data = "dyestuff2", formula = "Yield ~ 1 + (1 | Batch)", reml = TRUE)
)
comparisons <- list(
  list(name = "sleepstudy_intercept_vs_slope", smaller = "sleepstudy_intercept_reml", larger = "sleepstudy_slope_reml"),
  list(name = "growth200_null_vs_full", smaller = "growth200_null_reml", larger = "growth200_reml")
)
