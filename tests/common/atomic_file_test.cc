#include "common/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace dpcni {
namespace {

class AtomicFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("atomic_file_" + std::to_string(::getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(AtomicFileTest, CreatesDirectoryAndReplacesContentWholly) {
  const std::string path = (dir_ / "nested" / "state.json").string();
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second, longer content").ok());
  EXPECT_EQ(*ReadFile(path), "second, longer content");
  // Only the target remains: no temporary file is left beside it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ / "nested"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(AtomicFileTest, StateFilesAreOwnerOnly) {
  const std::string path = (dir_ / "ipam.json").string();
  ASSERT_TRUE(WriteFileAtomically(path, "{}").ok());
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
}

TEST_F(AtomicFileTest, ReadingAMissingFileIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(ReadFile((dir_ / "absent").string()).status()));
}

}  // namespace
}  // namespace dpcni
