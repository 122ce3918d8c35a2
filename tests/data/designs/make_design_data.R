# Real data sets for the report's design cases, written as CSV from R's nlme:
#   hsb.csv   High School and Beyond (nlme::MathAchieve joined to nlme::MathAchSchool's Sector):
#             7185 students in 160 schools; SES, MEANSES (the school's mean SES), Sector.
#   oats.csv  Yates' split-plot oats (nlme::Oats): 6 blocks x 3 varieties x 4 nitrogen levels;
#             N is the nitrogen level as a factor, as in R's MASS::oats.
# Run: cd tests/data/designs && LC_COLLATE=C Rscript make_design_data.R
suppressPackageStartupMessages(library(nlme))
ma <- as.data.frame(MathAchieve)
sc <- as.data.frame(MathAchSchool)
hsb <- data.frame(School = as.character(ma$School), Minority = as.character(ma$Minority),
                  Sex = as.character(ma$Sex), SES = ma$SES, MathAch = ma$MathAch, MEANSES = ma$MEANSES)
hsb$Sector <- as.character(sc$Sector[match(hsb$School, as.character(sc$School))])
write.csv(hsb, "hsb.csv", row.names = FALSE, quote = FALSE)
oa <- as.data.frame(Oats)
oats <- data.frame(Block = as.character(oa$Block), Variety = as.character(oa$Variety), nitro = oa$nitro,
                   N = paste0(format(oa$nitro, nsmall = 1), "cwt"), yield = oa$yield)
write.csv(oats, "oats.csv", row.names = FALSE, quote = FALSE)
