// Fit a random-slope model with the lmm library in a few lines.
#include <lmm/lmm.h>

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fit_sleepstudy sleepstudy.csv\n");
    return 2;
  }
  try {
    lmm::DataFrame data = lmm::read_table(argv[1]);
    auto [model, result] = lmm::fit(data, "Reaction ~ Days + (Days | Subject)");
    std::cout << lmm::format_summary(result);
    std::printf("theta:");
    for (double t : model.theta()) std::printf(" %.6f", t);
    std::printf("\n");
  } catch (const lmm::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
