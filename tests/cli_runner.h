// Helpers for the tests that run the lmm command line: per-process scratch directories, whole-file
// reads, and one way of running the CLI and collecting its exit code, stdout and stderr.
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern char** environ;

namespace lmm::testing {

/// The directories scratch_dir() has made in this process.
inline std::vector<std::filesystem::path>& scratch_dirs() {
  static std::vector<std::filesystem::path> dirs;
  return dirs;
}

/// Removes every scratch directory when the test program ends.
class RemoveScratchDirs : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    for (const auto& d : scratch_dirs()) std::filesystem::remove_all(d, ec);
  }
};
[[maybe_unused]] inline ::testing::Environment* const kRemoveScratchDirs =
    ::testing::AddGlobalTestEnvironment(new RemoveScratchDirs);

/// <temp>/<prefix><pid>, created if missing; removed when the test program ends.
inline std::filesystem::path scratch_dir(const std::string& prefix) {
  const std::filesystem::path d =
      std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  auto& dirs = scratch_dirs();
  if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  return d;
}

/// The bytes of a file ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// What a run of the CLI gave.
struct CliRun {
  int code = -1;  // exit code, or 128 + signal; -1 when it could not be started
  std::string out, err;
};

/// Runs `lmm <args>` without a shell (arguments may hold any byte), stdin from /dev/null.
inline CliRun run_cli(const std::vector<std::string>& args) {
  const std::filesystem::path dir = scratch_dir("lmm_cli_run_");
  const std::filesystem::path out = dir / "stdout", err = dir / "stderr";
  std::vector<std::string> argv_s{LMM_CLI_PATH};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  CliRun r;
  const int rc = posix_spawn(&pid, LMM_CLI_PATH, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.err = "posix_spawn failed";
    return r;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// Whether "nan" or "inf" stands as a word in `text`, in any case: what a non-finite double prints
/// as.
inline bool has_non_finite(const std::string& text) {
  std::string word;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char ch = i < text.size() ? text[i] : ' ';
    if (std::isalpha(static_cast<unsigned char>(ch))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      continue;
    }
    if (word == "nan" || word == "inf" || word == "infinity") return true;
    word.clear();
  }
  return false;
}

}  // namespace lmm::testing
