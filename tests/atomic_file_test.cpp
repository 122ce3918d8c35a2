// Tests for cli/atomic_file.cpp: outputs appear whole or not at all.
#include "atomic_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "lmm/error.h"

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lmm_atomic_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Files in the directory other than `keep`.
  int others(const std::string& keep) const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) n += e.path().filename() != keep;
    return n;
  }
  fs::path dir_;
};

TEST_F(AtomicFile, WritesAndReplaces) {
  const std::string path = (dir_ / "out.json").string();
  lmm::cli::write_file_atomic(path, std::string("first\n"));
  EXPECT_EQ(slurp(path), "first\n");
  lmm::cli::write_file_atomic(path, [](std::ostream& os) { os << "second " << 2 << '\n'; });
  EXPECT_EQ(slurp(path), "second 2\n");
  EXPECT_EQ(others("out.json"), 0);  // no temporary left behind
  // Binary content, NUL bytes included, arrives unchanged.
  const std::string bin("a\0b\xff", 4);
  lmm::cli::write_file_atomic(path, bin);
  EXPECT_EQ(slurp(path), bin);
}

TEST_F(AtomicFile, PermissionsFollowTheUmask) {
  const mode_t old = ::umask(022);
  const std::string path = (dir_ / "out.csv").string();
  lmm::cli::write_file_atomic(path, std::string("x"));
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(AtomicFile, FailedProducerLeavesTheOldFile) {
  const std::string path = (dir_ / "out.txt").string();
  lmm::cli::write_file_atomic(path, std::string("old"));
  EXPECT_THROW(lmm::cli::write_file_atomic(path,
                                           [](std::ostream& os) {
                                             os << "half";
                                             throw std::runtime_error("interrupted");
                                           }),
               std::runtime_error);
  EXPECT_EQ(slurp(path), "old");
  EXPECT_EQ(others("out.txt"), 0);
}

TEST_F(AtomicFile, MissingDirectoryIsAUserError) {
  const std::string path = (dir_ / "no" / "such" / "out.txt").string();
  try {
    lmm::cli::write_file_atomic(path, std::string("x"));
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write '" + path + "': No such file or directory"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(others(""), 0);
}

TEST_F(AtomicFile, DirectoryAsTargetIsAUserError) {
  try {
    lmm::cli::write_file_atomic(dir_.string(), std::string("x"));
    FAIL() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Is a directory"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_EQ(others(""), 0);
}

}  // namespace
