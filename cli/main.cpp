// `lmm`: argument parsing and dispatch only; the work is in the library.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <iterator>

#include <unistd.h>

#include "commands.h"
#include "lmm/error.h"
#include "lmm/version.h"
#include "wording.h"

namespace {

// Idle worker threads of the two threading runtimes behind Eigen and LAPACK. By default libgomp's
// workers (Eigen's parallel products) spin for about 300,000 iterations after each parallel region,
// and OpenBLAS's (dpotrf of large dense blocks) call sched_yield in a loop for 2^28 clock cycles
// (0.1 s) after start-up and after each call: on the crossed 1,000 x 500 fit the spinning took a
// fifth of the process's CPU, and on a busy 2-core machine it takes cores from the threads doing
// the work. With the settings below an idle libgomp worker sleeps at once, and an OpenBLAS worker
// after 2^22 cycles (about 2 ms; the steps of one dpotrf come sooner). Both libraries read these
// settings from the environment once, in their initialisers, and glibc's own initialiser puts back
// the environment the process started with, so they cannot be set from inside the process: where
// one is missing, the program starts itself again with it. This runs from .preinit_array, before
// any shared library's initialiser (no OpenBLAS threads started for nothing), and so uses nothing
// of libc that needs initialising: the new environment is built in a static array. A setting the
// user made is kept; if anything fails, the program runs on with the libraries' defaults.
//
// glibc's allocator is set up from the environment too (GLIBC_TUNABLES). A fit allocates and frees
// large blocks at every evaluation: a crossed design's m x m tail and its inverse (800 MB each for
// 10,000 items), Satterthwaite's dense temporaries. By default each comes from a fresh mmap, unmapped
// when freed, so every evaluation pays again for the page faults of first touch, one per 4 KB page
// (on the virtual machines measured, a quarter of InstEval's CPU time went to the kernel's fault
// handler). With these settings large blocks come from the heap and stay there when freed
// (mmap_max=0, no trimming), so the next allocation of the same size reuses the pages, and the heap
// is backed by transparent huge pages where the kernel offers them on request (hugetlb=1: one
// fault per 2 MB). Measured: the 10M ratings fit 4:05 -> 3:18 (the first two), the 1M subset 114 s
// -> 94 s, InstEval's `fit --json` 1.5-1.6 s -> 0.9-1.3 s (all three); peak memory 4.0 -> 4.2 GB on
// 10M. glibc advises huge pages only for a step of the heap of 2 MB or more, and the heap grows by
// what each allocation lacks: the reader's columns (InstEval: seven of 0.6 MB) grew it in smaller
// steps, on 4 KB pages, each first touch a fault (~10 us on the VMs measured). With top_pad=64 MB
// every step is at least 64 MB (address space only; pages come on first touch as before): InstEval's
// read 20.5 -> 11.5 ms (medians of 12 alternated runs), peak memory 117 -> 119 MB, sleepstudy's
// 18.8 -> 17.7 MB. A GLIBC_TUNABLES the user set is kept as it is.
constexpr const char* kMallocTunables =
    "GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736:"
    "glibc.malloc.top_pad=67108864";

void relaunch_with_thread_defaults(int, char** argv, char** env) {
  static const char* const defaults[] = {"OMP_WAIT_POLICY=passive", "OPENBLAS_THREAD_TIMEOUT=22", kMallocTunables};
  constexpr std::size_t kMaxEntries = 4096;
  static char* new_env[kMaxEntries];
  if (!argv || !env) return;
  std::size_t n = 0;
  for (char** e = env; *e; ++e) {
    if (n + std::size(defaults) + 1 >= kMaxEntries) return;
    new_env[n++] = *e;
  }
  bool missing = false;
  for (const char* d : defaults) {
    const std::size_t name = static_cast<std::size_t>(std::strchr(d, '=') - d) + 1;  // with the '='
    bool set = false;
    for (char** e = env; *e && !set; ++e) set = std::strncmp(*e, d, name) == 0;
    if (!set) {
      new_env[n++] = const_cast<char*>(d);
      missing = true;
    }
  }
  if (!missing) return;
  new_env[n] = nullptr;
  execve("/proc/self/exe", argv, new_env);  // returns only if it failed
}

__attribute__((section(".preinit_array"), used)) void (*const preinit_relaunch)(int, char**, char**) =
    &relaunch_with_thread_defaults;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "lmm " LMM_VERSION " - linear mixed models for longitudinal and other nested data.\n"
      "Fits models written in lme4's formula language and reports what lme4, lmerTest and\n"
      "performance report, from one C++ program.\n\n"
      "  lmm fit data.csv \"Reaction ~ Days + (Days | Subject)\"\n"
      "  lmm fit data.csv \"y ~ time * group + (time | id)\" --ml --json\n\n"
      "Run `lmm fit --help` for the formula syntax."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(LMM_VERSION));
  lmm::cli::Action action;
  lmm::cli::add_fit_command(app, action);
  lmm::cli::add_shrinkage_command(app, action);
  lmm::cli::add_predict_command(app, action);
  lmm::cli::add_simulate_command(app, action);
  lmm::cli::add_power_command(app, action);
  lmm::cli::add_reshape_command(app, action);
  lmm::cli::add_compare_command(app, action);
  lmm::cli::add_emmeans_command(app, action);
  lmm::cli::add_report_command(app, action);
  lmm::cli::add_explore_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    return action ? action() : 0;
  } catch (const lmm::Error& e) {
    std::cout.flush();
    std::cerr << "lmm: " << lmm::cli::in_cli_terms(e.what()) << '\n';
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "lmm: out of memory\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "lmm: internal error: " << e.what() << " (please report this with the command that caused it)\n";
    return 3;
  }
}
