// What the agent accepts as a pod's network namespace (CNI_NETNS comes from the container runtime).
// None of these needs root: opening a namespace file and asking its type is unprivileged.
#include "netns/netns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <vector>

namespace dpcni::dataplane {
namespace {

class OpenNetnsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("netns_" + std::to_string(::getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `call` on another thread, so a regression that blocks on the FIFO at `fifo` fails the test
  // instead of hanging it: after the timeout the test opens the FIFO's write side, which releases a
  // blocked reader.
  template <typename Call>
  auto WithinTimeout(const std::string& fifo, Call call) {
    auto done = std::async(std::launch::async, call);
    if (done.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
      const int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      done.wait();
      if (writer >= 0) ::close(writer);
      ADD_FAILURE() << "blocked for 5 s on " << fifo;
    }
    return done.get();
  }

  std::filesystem::path dir_;
};

TEST_F(OpenNetnsTest, AcceptsTheKernelsOwnNetnsLinks) {
  for (const std::string& path :
       std::vector<std::string>{"/proc/self/ns/net", "/proc/thread-self/ns/net",
                                "/proc/" + std::to_string(::getpid()) + "/ns/net"}) {
    auto fd = OpenNetns(path);
    ASSERT_TRUE(fd.ok()) << path << ": " << fd.status();
    ::close(*fd);
  }
  const int held = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(held, 0);
  auto fd = OpenNetns("/proc/self/fd/" + std::to_string(held));
  ::close(held);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ::close(*fd);
}

// A FIFO as CNI_NETNS used to block open() for ever, holding the attachment's lock, then every
// later ADD and the agent's shutdown.
TEST_F(OpenNetnsTest, RefusesAFifoWithoutBlocking) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto fd = WithinTimeout(fifo, [&] { return OpenNetns(fifo); });
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fd.status().message().find("is not a namespace file"), std::string::npos)
      << fd.status();
}

TEST_F(OpenNetnsTest, RefusesARegularFile) {
  const std::string file = (dir_ / "file").string();
  std::ofstream(file) << "not a namespace";
  auto fd = OpenNetns(file);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fd.status().message().find("is not a namespace file"), std::string::npos)
      << fd.status();
}

TEST_F(OpenNetnsTest, RefusesAnotherKindOfNamespace) {
  const int mount_ns = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(mount_ns, 0);
  auto fd = OpenNetns("/proc/self/fd/" + std::to_string(mount_ns));
  ::close(mount_ns);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fd.status().message().find("not a network namespace"), std::string::npos)
      << fd.status();
}

// A link in a folder the runtime owns could point the pod's setup at the node's own netns.
TEST_F(OpenNetnsTest, RefusesASymbolicLinkToANetns) {
  const std::string link = (dir_ / "link").string();
  std::filesystem::create_symlink("/proc/self/ns/net", link);
  auto fd = OpenNetns(link);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fd.status().message().find("symbolic link"), std::string::npos) << fd.status();
}

TEST_F(OpenNetnsTest, MissingPathIsNotFound) {
  auto fd = OpenNetns((dir_ / "gone").string());
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OpenNetnsTest, RunInNetnsRefusesAFifoWithoutRunningTheFunction) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  bool ran = false;
  const absl::Status status = WithinTimeout(fifo, [&] {
    return RunInNetns(fifo, [&] {
      ran = true;
      return absl::OkStatus();
    });
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace dpcni::dataplane
