# Kenward-Roger and Satterthwaite df with a residual structure, computed from their formulas with
# dense matrices and nothing from lmm (no reference software gives them for these models here):
#
#   V_i = Z_i G Z_i' + sigma^2 D_i R_i D_i   per group, as a function of psi = the natural
#         parameters (random-intercept variance, sigma^2, SD ratios, correlations or phi)
#   REML deviance d(psi) = (n - p) log(2 pi) + sum log|V_i| + log|X'V^-1 X| + r'V^-1 r
#   psi: nlme's estimates (the reference JSON) polished by Newton steps on d (numDeriv)
#   Phi = (X'V^-1 X)^-1
#   Satterthwaite (lmerTest): A = 2 H^-1 (H = hessian of d), df = 2 (c'Phi c)^2 / (g'A g),
#     g_r = c' dPhi/dpsi_r c; an F test over the eigen-directions of L Phi L' (contestMD)
#   Kenward-Roger (1997, pbkrtest's vcovAdj / Lb_ddf, first order: no second-derivative term):
#     G_r = dV/dpsi_r (numDeriv::jacobian), P_r = -X'V^-1 G_r V^-1 X,
#     Q_rs = X'V^-1 G_r V^-1 G_s V^-1 X, K_rs = tr(V^-1 G_r V^-1 G_s),
#     IE2 = K - 2 tr(Phi Q) + tr(Phi P_r Phi P_s), W = 2 IE2^-1,
#     Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi, df from A1, A2 (pbkrtest)
#
#   cd tests/data/residual && LC_COLLATE=C Rscript make_kr_refs.R   (about 30 s)
# writes kr_refs.json.
suppressPackageStartupMessages({ library(jsonlite); library(numDeriv) })

blocks_of <- function(d, X, y, group) {
  lapply(split(seq_len(nrow(d)), as.character(d[[group]])), function(ii)
    list(ii = ii, X = X[ii, , drop = FALSE], y = y[ii]))
}

# REML deviance, Phi and beta at psi; Vfun(psi, b) gives block b's V.
reml <- function(psi, B, Vfun) {
  p <- ncol(B[[1]]$X); n <- sum(sapply(B, function(b) length(b$y)))
  M <- matrix(0, p, p); xy <- numeric(p); yy <- 0; ld <- 0
  for (b in B) {
    V <- Vfun(psi, b); L <- chol(V)
    ld <- ld + 2 * sum(log(diag(L)))
    Xi <- backsolve(L, b$X, transpose = TRUE); yi <- backsolve(L, b$y, transpose = TRUE)
    M <- M + crossprod(Xi); xy <- xy + drop(crossprod(Xi, yi)); yy <- yy + sum(yi^2)
  }
  beta <- solve(M, xy)
  list(dev = (n - p) * log(2 * pi) + ld + determinant(M)$modulus[1] + yy - sum(beta * xy),
       Phi = solve(M), beta = beta)
}

polish <- function(psi, B, Vfun) {
  f <- function(x) reml(x, B, Vfun)$dev
  for (it in 1:6) {
    step <- solve(hessian(f, psi), grad(f, psi))
    psi <- psi - step
    if (max(abs(step)) < 1e-11) break
  }
  psi
}

satterthwaite <- function(psi, B, Vfun) {
  A <- 2 * solve(hessian(function(x) reml(x, B, Vfun)$dev, psi))
  J <- jacobian(function(x) as.vector(reml(x, B, Vfun)$Phi), psi)
  p <- ncol(B[[1]]$X)
  dPhi <- lapply(seq_along(psi), function(r) matrix(J[, r], p, p))
  list(A = A, dPhi = dPhi)
}

satt_t_df <- function(S, Phi, cc) {
  g <- sapply(S$dPhi, function(D) sum(cc * (D %*% cc)))
  2 * sum(cc * (Phi %*% cc))^2 / sum(g * (S$A %*% g))
}

# lmerTest's contestMD: eigen-directions of L Phi L', then get_Fstat_ddf.
satt_F <- function(S, Phi, beta, L) {
  e <- eigen(L %*% Phi %*% t(L), symmetric = TRUE)
  PtL <- crossprod(e$vectors, L)
  nu <- sapply(seq_len(nrow(L)), function(j) satt_t_df(S, Phi, PtL[j, ]))
  Fv <- sum((PtL %*% beta)^2 / e$values) / nrow(L)
  q <- nrow(L)
  E <- sum(nu / (nu - 2))
  ddf <- if (all(abs(diff(nu)) < 1e-8)) mean(nu) else if (any(nu <= 2)) 2 else 2 * E / (E - q)
  list(F = Fv, ddf = ddf)
}

kenward_roger <- function(psi, B, Vfun, Phi) {
  k <- length(psi); p <- ncol(Phi)
  P <- replicate(k, matrix(0, p, p), simplify = FALSE)
  Q <- replicate(k * k, matrix(0, p, p), simplify = FALSE)
  K <- matrix(0, k, k)
  for (b in B) {
    m <- length(b$y)
    V <- Vfun(psi, b); Vi <- solve(V)
    J <- jacobian(function(x) as.vector(Vfun(x, b)), psi)
    G <- lapply(seq_len(k), function(r) matrix(J[, r], m, m))
    VX <- Vi %*% b$X
    for (r in seq_len(k)) {
      P[[r]] <- P[[r]] - t(VX) %*% G[[r]] %*% VX
      for (s in seq_len(k)) {
        Q[[(r - 1) * k + s]] <- Q[[(r - 1) * k + s]] + t(VX) %*% G[[r]] %*% Vi %*% G[[s]] %*% VX
        K[r, s] <- K[r, s] + sum(diag(Vi %*% G[[r]] %*% Vi %*% G[[s]]))
      }
    }
  }
  IE2 <- matrix(0, k, k)
  for (r in seq_len(k)) for (s in seq_len(k))
    IE2[r, s] <- K[r, s] - 2 * sum(diag(Phi %*% Q[[(r - 1) * k + s]])) +
      sum(diag(Phi %*% P[[r]] %*% Phi %*% P[[s]]))
  W <- 2 * solve(IE2)
  U <- matrix(0, p, p)
  for (r in seq_len(k)) for (s in seq_len(k))
    U <- U + W[r, s] * (Q[[(r - 1) * k + s]] - P[[r]] %*% Phi %*% P[[s]])
  list(PhiA = Phi + 2 * Phi %*% U %*% Phi, P = P, W = W)
}

# pbkrtest's Lb_ddf and .KR_adjust for a full-row-rank L.
kr_test <- function(KR, Phi, beta, L) {
  q <- nrow(L)
  Theta <- t(L) %*% solve(L %*% Phi %*% t(L), L)
  u <- lapply(KR$P, function(Pr) Theta %*% Phi %*% Pr %*% Phi)
  A1 <- 0; A2 <- 0
  for (r in seq_along(u)) for (s in seq_along(u)) {
    A1 <- A1 + KR$W[r, s] * sum(diag(u[[r]])) * sum(diag(u[[s]]))
    A2 <- A2 + KR$W[r, s] * sum(diag(u[[r]] %*% u[[s]]))
  }
  B <- (A1 + 6 * A2) / (2 * q)
  g <- ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
  den <- 3 * q + 2 * (1 - g)
  c1 <- g / den; c2 <- (q - g) / den; c3 <- (q + 2 - g) / den
  Estar <- 1 / (1 - A2 / q)
  Vstar <- 2 / q * (1 + c1 * B) / ((1 - c2 * B)^2 * (1 - c3 * B))
  rho <- Vstar / (2 * Estar^2)
  ddf <- 4 + (q + 2) / (q * rho - 1)
  Lb <- L %*% beta
  wald <- drop(t(Lb) %*% solve(L %*% KR$PhiA %*% t(L), Lb)) / q
  list(F = ddf / (Estar * (ddf - 2)) * wald, ddf = ddf)
}

run_case <- function(name, formula, psi0, psi_names, B, Vfun, tests, args) {
  psi <- polish(psi0, B, Vfun)
  r <- reml(psi, B, Vfun)
  S <- satterthwaite(psi, B, Vfun)
  KR <- kenward_roger(psi, B, Vfun, r$Phi)
  p <- length(r$beta); terms <- colnames(B[[1]]$X)
  fixed <- lapply(seq_len(p), function(j) {
    cc <- as.numeric(seq_len(p) == j)
    list(term = terms[j], estimate = r$beta[j], std_error = sqrt(r$Phi[j, j]),
         df_satterthwaite = satt_t_df(S, r$Phi, cc), std_error_kr = sqrt(KR$PhiA[j, j]),
         df_kr = kr_test(KR, r$Phi, r$beta, matrix(cc, 1))$ddf)
  })
  ftests <- lapply(names(tests), function(t) {
    L <- t(sapply(tests[[t]], function(col) as.numeric(terms == col)))
    s <- satt_F(S, r$Phi, r$beta, L); k <- kr_test(KR, r$Phi, r$beta, L)
    list(name = t, columns = tests[[t]], F_satterthwaite = s$F, ddf_satterthwaite = s$ddf,
         F_kr = k$F, ddf_kr = k$ddf)
  })
  cat(sprintf("%-10s polish moved psi by %.1e; REML loglik %.10f\n", name, max(abs(psi - psi0)), -r$dev / 2))
  list(case = name, lmm_args = args, psi = setNames(as.list(psi), psi_names), loglik = -r$dev / 2,
       fixed = fixed, ftests = ftests)
}

# --- MMRM: us(visit | id) with a residual SD per visit, no random effects (trial2, as mmrm_us.json)
mmrm_case <- function() {
  j <- fromJSON("mmrm_us.json", simplifyVector = FALSE)
  d <- read.csv("data/trial2.csv", stringsAsFactors = FALSE)
  d <- d[complete.cases(d[, c("y", "trt", "visit", "id")]), ]
  X <- model.matrix(~ trt * visit, d)
  B <- blocks_of(d, X, d$y, "id")
  lev <- sort(unique(d$visit)); nv <- length(lev)
  for (k in seq_along(B)) B[[k]]$v <- match(d$visit[B[[k]]$ii], lev)
  pairs <- which(upper.tri(diag(nv)), arr.ind = TRUE); pairs <- pairs[order(pairs[, 1], pairs[, 2]), ]
  Vfun <- function(psi, b) {
    sd <- sqrt(psi[1]) * c(1, psi[2:nv])
    C <- diag(nv)
    C[pairs] <- psi[(nv + 1):length(psi)]; C[pairs[, 2:1]] <- psi[(nv + 1):length(psi)]
    (sd[b$v] %o% sd[b$v]) * C[b$v, b$v]
  }
  cors <- sapply(seq_len(nrow(pairs)), function(k) {
    for (e in j$correlation$cor) if (e$visit1 == lev[pairs[k, 1]] && e$visit2 == lev[pairs[k, 2]]) return(e$cor)
  })
  psi0 <- c(j$sigma^2, unlist(j$residual_sd_ratios)[lev[-1]], cors)
  nm <- c("sigma2", paste0("sd_ratio:", lev[-1]), sprintf("cor:%s:%s", lev[pairs[, 1]], lev[pairs[, 2]]))
  run_case("mmrm_us", "y ~ trt * visit", psi0, nm, B, Vfun,
           list("trt:visit" = grep(":", colnames(X), value = TRUE), visit = grep("^visit", colnames(X), value = TRUE)),
           j$lmm_args)
}

# --- a random intercept and AR(1) within mare (Ovary, as ovary_ar1.json)
ovary_case <- function() {
  j <- fromJSON("ovary_ar1.json", simplifyVector = FALSE)
  d <- read.csv("data/ovary.csv")
  X <- model.matrix(~ s1 + c1, d)
  B <- blocks_of(d, X, d$follicles, "Mare")
  for (k in seq_along(B)) B[[k]]$t <- d$t[B[[k]]$ii]
  Vfun <- function(psi, b) psi[1] + psi[2] * psi[3]^abs(outer(b$t, b$t, "-"))
  psi0 <- c(j$random[[1]]$variance, j$sigma^2, j$correlation$phi)
  run_case("ovary_ar1", "follicles ~ s1 + c1 + (1 | Mare)", psi0, c("Mare:(Intercept):variance", "sigma2", "phi"),
           B, Vfun, list("s1+c1" = c("s1", "c1")), j$lmm_args)
}

out <- list(mmrm_us = mmrm_case(), ovary_ar1 = ovary_case())
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "kr_refs.json")
