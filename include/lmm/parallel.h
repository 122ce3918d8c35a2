// How many threads the engine uses for the pass over the rows and for the objective's per-level work.
#pragma once

namespace lmm {

/// Sets the number of threads (0 or less: all cores). Results do not depend on it: the work is
/// split into the same chunks whatever the thread count and the chunks' sums are added in order.
/// Code that runs several fits at once on its own threads should set 1.
void set_num_threads(int n);
/// The number of threads in use (all cores unless set).
int num_threads();

/// Opens the LAPACK library (OpenBLAS) that factors the large dense blocks of crossed designs,
/// which is otherwise opened at the first such block: about 5 ms of loading, which a caller that
/// expects a large fit can spend on another thread while it reads the data. Does nothing in a build
/// without OpenBLAS; safe from any thread, any number of times.
void load_dense_kernels();

}  // namespace lmm
