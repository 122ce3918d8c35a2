// The dense Cholesky factorisation of the filled-in block of a crossed design (issue 17): Eigen's
// LLT against LAPACK's dpotrf from Debian's OpenBLAS, at the sizes that matter, 1 and 2 threads.
// Not part of the build; compile and run by hand (portable vs native: drop -march=native):
//   g++ -O3 -DNDEBUG -march=native -fopenmp -std=c++20 -I/usr/include/eigen3 \
//     bench/cholesky_kernels.cpp -o /tmp/chol -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas
//   /tmp/chol 1128 5000 10000
#include <Eigen/Dense>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <omp.h>

extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void openblas_set_num_threads(int);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A positive definite matrix shaped like the block: I + a sum of nonnegative rank-one terms.
Eigen::MatrixXd spd(int n) {
  Eigen::MatrixXd B = Eigen::MatrixXd::Random(n, 64).cwiseAbs();
  Eigen::MatrixXd A = B * B.transpose() / 64.0;
  A.diagonal().array() += 1.0;
  return A;
}

template <class F>
double best_of(int reps, const Eigen::MatrixXd& A0, F factor) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    Eigen::MatrixXd A = A0;
    const auto t0 = std::chrono::steady_clock::now();
    factor(A);
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("%6s %7s %12s %12s %12s %12s  (seconds, best of runs; GFLOP/s = n^3/3 / s)\n", "n", "threads",
              "Eigen LLT", "GFLOP/s", "dpotrf", "GFLOP/s");
  for (int a = 1; a < argc; ++a) {
    const int n = std::atoi(argv[a]);
    const Eigen::MatrixXd A0 = spd(n);
    const int reps = n <= 2000 ? 5 : 2;
    const double flops = static_cast<double>(n) * n * n / 3.0;
    for (int threads = 1; threads <= 2; ++threads) {
      omp_set_num_threads(threads);
      Eigen::setNbThreads(threads);
      openblas_set_num_threads(threads);
      const double te = best_of(reps, A0, [](Eigen::MatrixXd& A) {
        Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(A);
        if (llt.info() != Eigen::Success) std::abort();
      });
      const double tl = best_of(reps, A0, [](Eigen::MatrixXd& A) {
        const int m = static_cast<int>(A.rows());
        int info = 0;
        dpotrf_("L", &m, A.data(), &m, &info);
        if (info != 0) std::abort();
      });
      std::printf("%6d %7d %12.3f %12.1f %12.3f %12.1f\n", n, threads, te, flops / te * 1e-9, tl, flops / tl * 1e-9);
    }
  }
}
