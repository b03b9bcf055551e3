#include "state/state_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"

namespace dpcni::dataplane {
namespace {

using ::testing::HasSubstr;

class StateLockTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("state_lock_" + std::to_string(::getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(StateLockTest, MakesTheDirAndRecordsThePid) {
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire((dir_ / "state").string());
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ(*ReadFile(lock->path()), absl::StrCat(::getpid(), "\n"));
}

TEST_F(StateLockTest, SecondHolderIsRefusedWithTheFirstsPid) {
  absl::StatusOr<StateDirLock> first = StateDirLock::Acquire(dir_.string());
  ASSERT_TRUE(first.ok()) << first.status();
  // flock conflicts between open file descriptions, so one process can play both agents.
  absl::StatusOr<StateDirLock> second = StateDirLock::Acquire(dir_.string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(absl::StrCat("PID ", ::getpid())));
  EXPECT_THAT(second.status().message(), HasSubstr("own state_dir"));
  // The refused agent leaves the holder's PID in place.
  EXPECT_EQ(*ReadFile(first->path()), absl::StrCat(::getpid(), "\n"));
}

TEST_F(StateLockTest, FreedWhenTheHolderGoesEvenIfItCrashed) {
  { ASSERT_TRUE(StateDirLock::Acquire(dir_.string()).ok()); }
  EXPECT_TRUE(StateDirLock::Acquire(dir_.string()).ok()) << "released on destruction";

  // A holder killed with SIGKILL: the kernel drops its lock with its descriptors.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<StateDirLock> held = StateDirLock::Acquire(dir_.string());
    char byte = held.ok() ? 1 : 0;
    (void)!::write(ready[1], &byte, 1);
    ::pause();
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ASSERT_EQ(byte, 1);
  absl::StatusOr<StateDirLock> while_held = StateDirLock::Acquire(dir_.string());
  EXPECT_THAT(while_held.status().message(), HasSubstr(absl::StrCat("PID ", child)));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  absl::StatusOr<StateDirLock> after = StateDirLock::Acquire(dir_.string());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*ReadFile(after->path()), absl::StrCat(::getpid(), "\n"));
}

TEST_F(StateLockTest, LockIsNotInheritedAcrossExec) {
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(dir_.string());
  ASSERT_TRUE(lock.ok());
  // A program the agent runs must not keep the lock after the agent is gone: its descriptor is
  // close-on-exec. `ls -l /proc/self/fd` in the child lists what it inherited.
  const std::string listing = (dir_ / "fds").string();
  const std::string command = absl::StrCat("ls -l /proc/self/fd/ > ", listing);
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(listing);
  const std::string fds((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(fds, ::testing::Not(HasSubstr("agent.lock")));
}

int ListenOn(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) return -1;
  return fd;
}

TEST_F(StateLockTest, ServedSocketIsNotTakenOver) {
  std::filesystem::create_directories(dir_);
  const std::string path = (dir_ / "dpcni.sock").string();
  const int fd = ListenOn(path);
  ASSERT_GE(fd, 0);
  // Bound but not listening: what an agent that was killed leaves behind.
  EXPECT_TRUE(CheckSocketUnserved(path).ok());
  ASSERT_EQ(::listen(fd, 4), 0);
  absl::Status served = CheckSocketUnserved(path);
  EXPECT_EQ(served.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(served.message(), HasSubstr(path));
  ::close(fd);
  EXPECT_TRUE(CheckSocketUnserved((dir_ / "missing.sock").string()).ok());
}

TEST_F(StateLockTest, RemovesOnlyTheFileItMade) {
  std::filesystem::create_directories(dir_);
  const std::string path = (dir_ / "dpcni.sock").string();
  std::ofstream(path) << "ours";
  absl::StatusOr<FileIdentity> ours = IdentityOf(path);
  ASSERT_TRUE(ours.ok());
  // A newer agent replaced it: remove, then create anew at the same path. On tmpfs the new file
  // gets the freed inode number back; what tells them apart is the change time, whose clock is
  // coarse (a jiffy), hence the pause.
  std::filesystem::remove(path);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::ofstream(path + ".tmp") << "theirs";
  std::filesystem::rename(path + ".tmp", path);
  EXPECT_FALSE(RemoveIfStillSame(path, *ours));
  EXPECT_TRUE(std::filesystem::exists(path));

  absl::StatusOr<FileIdentity> theirs = IdentityOf(path);
  ASSERT_TRUE(theirs.ok());
  EXPECT_TRUE(RemoveIfStillSame(path, *theirs));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(RemoveIfStillSame(path, *theirs)) << "already gone";
}

}  // namespace
}  // namespace dpcni::dataplane
