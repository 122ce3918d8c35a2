// Tests for lmm::write_file_atomically (src/io/atomic_file.cpp), the one writer of every file lmm
// writes: outputs appear whole or not at all. The library is called directly, and real `lmm`
// commands are run: a hard link to the old file keeps the old content (the target is renamed over,
// not rewritten in place), a write cut short by a file-size limit leaves the old file and no
// temporary, and a command interrupted by a signal while it writes leaves no temporary either.
#include "lmm/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cli_runner.h"
#include "lmm/error.h"

namespace {

namespace fs = std::filesystem;
using lmm::testing::run_cli;
using lmm::testing::slurp;

const std::string kData = LMM_TEST_DATA;

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = lmm::testing::scratch_dir("lmm_atomic_") /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // The names in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir_)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// ---- the library call ---------------------------------------------------------------------------

TEST_F(AtomicFile, WritesAndReplaces) {
  const std::string p = path("out.json");
  lmm::write_file_atomically(p, std::string("first\n"));
  EXPECT_EQ(slurp(p), "first\n");
  lmm::write_file_atomically(p, [](std::ostream& os) { os << "second " << 2 << '\n'; });
  EXPECT_EQ(slurp(p), "second 2\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"out.json"});  // no temporary left behind
  // Binary content, NUL bytes included, arrives unchanged; so does more than one buffer's worth.
  const std::string bin("a\0b\xff", 4);
  lmm::write_file_atomically(p, bin);
  EXPECT_EQ(slurp(p), bin);
  std::string big(300000, 'x');
  for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
  lmm::write_file_atomically(p, [&](std::ostream& os) {
    for (char ch : big) os.put(ch);
  });
  EXPECT_EQ(slurp(p), big);
}

TEST_F(AtomicFile, PermissionsFollowTheUmask) {
  const mode_t old = ::umask(022);
  const std::string p = path("out.csv");
  lmm::write_file_atomically(p, std::string("x"));
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(AtomicFile, FailedProducerLeavesTheOldFile) {
  const std::string p = path("out.txt");
  lmm::write_file_atomically(p, std::string("old"));
  EXPECT_THROW(lmm::write_file_atomically(p,
                                          [](std::ostream& os) {
                                            os << std::string(100000, 'h');  // flushed in part
                                            throw std::runtime_error("interrupted");
                                          }),
               std::runtime_error);
  EXPECT_EQ(slurp(p), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"out.txt"});
}

TEST_F(AtomicFile, MissingDirectoryIsAUserError) {
  const std::string p = path("no/such/out.txt");
  try {
    lmm::write_file_atomically(p, std::string("x"));
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot write '" + p + "': the directory '" + path("no/such") + "' does not exist");
  }
  EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicFile, DirectoryAsTargetIsAUserError) {
  try {
    lmm::write_file_atomically(dir_.string(), std::string("x"));
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write '" + dir_.string() + "': Is a directory");
  }
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_TRUE(entries().empty());
}

// ---- where the commands use it --------------------------------------------------------------------

// Every kind of file a command writes, over an existing file with a second hard link: afterwards
// the link still has the old bytes (the new file was renamed over the name, not written into the
// old inode) and the target has the new content.
TEST_F(AtomicFile, CommandsReplaceTheTargetByRename) {
  const std::string sleep = kData + "/sleepstudy.csv", growth = kData + "/growth200.csv";
  const std::string model = path("model.json");
  ASSERT_EQ(run_cli({"fit", sleep, "Reaction ~ Days + (Days | Subject)", "--save", model}).code, 0);
  struct Case {
    std::vector<std::string> args;  // {out} stands for the target
    std::string starts_with;        // the new content's first bytes
  };
  const std::vector<Case> cases = {
      {{"simulate", "--persons", "4", "--out", "{out}"}, "id,time,group,y\n"},
      {{"simulate", "--model", model, "--data", sleep, "--out", "{out}"}, "Subject,"},
      {{"predict", sleep, "--model", model, "--out", "{out}"}, "Subject,Days,Reaction,fit\n"},
      {{"reshape", growth, "--long-to-wide", "--id", "id", "--values", "y", "--out", "{out}"},
       "id,"},
      {{"fit", sleep, "Reaction ~ Days + (1 | Subject)", "--save", "{out}"}, "{"},
      {{"fit", sleep, "Reaction ~ Days + (1 | Subject)", "--ranef", "{out}"}, "group,level,"},
      {{"fit", sleep, "Reaction ~ Days + (1 | Subject)", "--residuals", "{out}"}, "row,Subject,"},
      {{"shrinkage", sleep, "Reaction ~ Days + (Days | Subject)", "--csv", "{out}"}, "Subject,"},
      {{"report", sleep, "Reaction ~ Days + (Days | Subject)", "--out", "{out}"}, "<!DOCTYPE"},
  };
  for (const Case& c : cases) {
    const std::string target = path("target"), link = path("link");
    fs::remove(target);
    fs::remove(link);
    std::ofstream(target) << "old\n";
    fs::create_hard_link(target, link);
    std::vector<std::string> args = c.args;
    for (auto& a : args)
      if (a == "{out}") a = target;
    SCOPED_TRACE(args[0] + " " + args[args.size() - 2]);
    const auto r = run_cli(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(slurp(link), "old\n");
    EXPECT_EQ(slurp(target).rfind(c.starts_with, 0), 0u) << slurp(target).substr(0, 200);
    EXPECT_EQ(entries(), (std::vector<std::string>{"link", "model.json", "target"}));
  }
}

// Runs `lmm <args>` in a child process prepared by `setup` (called between fork and exec, so
// async-signal-safe calls only), stdout to /dev/null and stderr to `err`. Returns the pid.
template <class Setup>
pid_t start_cli(const std::vector<std::string>& args, const std::string& err, Setup setup) {
  std::vector<std::string> argv_s{LMM_CLI_PATH};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDWR);
    const int errfd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(errfd, 2);
    // The test runner may have blocked or ignored signals; the CLI starts as from a shell.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGXFSZ}) ::signal(sig, SIG_DFL);
    setup();
    ::execv(LMM_CLI_PATH, argv.data());
    ::_exit(127);
  }
  return pid;
}

// A file-size limit makes write(2) fail with EFBIG part-way through (SIGXFSZ ignored, as a
// program that handles it would): the command reports the error, the old file is unchanged and no
// temporary is left.
TEST_F(AtomicFile, WriteFailingPartWayLeavesTheOldFile) {
  const std::string target = path("sim.csv"), err = dir_.parent_path() / "fsize.err";
  std::ofstream(target) << "old\n";
  const pid_t pid = start_cli({"simulate", "--persons", "5000", "--out", target}, err, [] {
    struct rlimit lim {};
    lim.rlim_cur = lim.rlim_max = 64 * 1024;
    ::setrlimit(RLIMIT_FSIZE, &lim);
    ::signal(SIGXFSZ, SIG_IGN);
  });
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_EQ(slurp(err), "lmm: cannot write '" + target + "': File too large\n");
  EXPECT_EQ(slurp(target), "old\n");
  EXPECT_EQ(entries(), std::vector<std::string>{"sim.csv"});
}

// A command killed by SIGINT, SIGTERM or SIGHUP while it streams a large file: the temporary is
// removed, the target keeps its old content (or stays absent), and the process dies of the signal
// (as the shell expects). The signal is sent as soon as the temporary appears: the command then
// still has tens of megabytes to format and write.
TEST_F(AtomicFile, InterruptedCommandLeavesNoTemporary) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(::strsignal(sig));
    const bool had_old = sig != SIGTERM;
    const std::string target = path("big.csv"), err = dir_.parent_path() / "signal.err";
    fs::remove(target);
    if (had_old) std::ofstream(target) << "old\n";
    const pid_t pid =
        start_cli({"simulate", "--persons", "200000", "--out", target}, err, [] {});
    ASSERT_GT(pid, 0);
    bool seen = false;
    int status = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (!seen && std::chrono::steady_clock::now() < give_up) {
      seen = entries().size() > (had_old ? 1u : 0u);
      if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ASSERT_TRUE(seen) << "no temporary file appeared";
    ASSERT_EQ(::kill(pid, sig), 0);
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "exited with " << WEXITSTATUS(status)
                                     << " before the signal came: make the output larger";
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_EQ(entries(), had_old ? std::vector<std::string>{"big.csv"} : std::vector<std::string>{});
    if (had_old) EXPECT_EQ(slurp(target), "old\n");
  }
}

}  // namespace
