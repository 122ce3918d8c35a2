# Writes a simulated nested data set: `per` pupils in each of `classes` classes in each of
# `schools` schools, measured at times 0..3: y = 10 + 0.5 x + school (SD 1) + class (SD 0.7)
# + pupil intercept (SD 1) and slope on time (SD 0.3) + noise (SD 1).
#   Rscript simulate_nested.R SCHOOLS CLASSES PER out.csv
# Models: y ~ x + (1 | school/class) and y ~ time + (time | pupil) + (1 | school).
args <- commandArgs(TRUE)
S <- as.integer(args[1]); C <- as.integer(args[2]); P <- as.integer(args[3]); out <- args[4]
set.seed(S + C + P)
np <- S * C * P
pupil <- rep(seq_len(np), each = 4)
time <- rep(0:3, np)
class <- (pupil - 1) %/% P + 1
school <- (class - 1) %/% C + 1
x <- rnorm(length(pupil))
y <- 10 + 0.5 * x + rnorm(S)[school] + rnorm(S * C, 0, 0.7)[class] + rnorm(np)[pupil] +
  rnorm(np, 0, 0.3)[pupil] * time + rnorm(length(pupil))
d <- data.frame(school = paste0("S", school), class = paste0("C", class), pupil = paste0("P", pupil),
                time = time, x = round(x, 4), y = round(y, 4))
data.table::fwrite(d, out)
