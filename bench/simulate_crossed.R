# Writes a simulated crossed subjects x items data set: each subject rates `per` distinct items
# drawn at random; y = 10 + subject intercept (SD 2) + item intercept (SD 1.5) + noise (SD 1).
#   Rscript simulate_crossed.R SUBJECTS ITEMS PER out.csv
args <- commandArgs(TRUE)
S <- as.integer(args[1]); I <- as.integer(args[2]); P <- as.integer(args[3]); out <- args[4]
set.seed(S + I + P)
subject <- rep(seq_len(S), each = P)
item <- as.vector(vapply(seq_len(S), function(s) sample.int(I, P), integer(P)))
us <- rnorm(S, 0, 2); ui <- rnorm(I, 0, 1.5)
y <- 10 + us[subject] + ui[item] + rnorm(length(subject))
d <- data.frame(subject = paste0("S", subject), item = paste0("I", item), y = round(y, 4))
data.table::fwrite(d, out)
