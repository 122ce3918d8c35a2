# R's abbreviate() as lme4's summary uses it for the correlation of fixed effects (rows minlength
# 11, columns 6), for term names lmm writes. Run: LC_COLLATE=C Rscript make_abbreviate_refs.R
sets <- list(
  c("(Intercept)", "SexFemale", "SexMale", "SexFemale:Age", "SexMale:Age"),
  c("(Intercept)", "time", "grouptreatment", "time:grouptreatment"),
  c("(Intercept)", "SES", "MEANSES", "SectorPublic", "SES:SectorPublic", "MinorityYes", "SES:MEANSES"),
  c("(Intercept)", "N0.2cwt", "N0.4cwt", "N0.6cwt", "VarietyMarvellous", "VarietyVictory"),
  c("(Intercept)", "I(age^2)", "factor(Diet)2", "factor(Diet)3", "log(Reaction)")
)
out <- lapply(sets, function(s) list(names = s, min6 = unname(abbreviate(s, minlength = 6)),
                                     min11 = unname(abbreviate(s, minlength = 11))))
writeLines(jsonlite::toJSON(out, auto_unbox = FALSE, pretty = TRUE), "abbreviate_refs.json")
