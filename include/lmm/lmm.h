// Everything a program needs to fit linear mixed models with lmm.
#pragma once
#include "lmm/atomic_file.h"
#include "lmm/compare.h"
#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/formula.h"
#include "lmm/inference.h"
#include "lmm/model.h"
#include "lmm/model_frame.h"
#include "lmm/residuals.h"
#include "lmm/version.h"
