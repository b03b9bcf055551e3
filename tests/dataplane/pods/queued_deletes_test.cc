#include "pods/queued_deletes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/pending_deletes.h"
#include "dpcni/v1/dpcni.pb.h"

namespace dpcni::dataplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class QueuedDeletesTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("queued_deletes_" + std::to_string(::getpid()) + "_" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    socket_ = (dir_ / "dpcni.sock").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // What the plugin writes when it cannot reach the agent.
  std::string Queue(const std::string& container_id, int64_t queued_at) {
    v1::QueuedDelete queued;
    queued.set_queued_unix_nanos(queued_at);
    queued.mutable_request()->mutable_attachment()->set_container_id(container_id);
    queued.mutable_request()->mutable_attachment()->set_ifname("eth0");
    queued.mutable_request()->mutable_attachment()->set_netns_path("/var/run/netns/" +
                                                                   container_id);
    const std::string path = PendingDeletePath(socket_, container_id, "eth0");
    EXPECT_TRUE(WriteFileAtomically(path, queued.SerializeAsString()).ok());
    return path;
  }

  QueuedDeletesReplay Replay() {
    return ReplayQueuedDeletes(
        PendingDeletesDir(socket_),
        QueuedDeleteTarget{
            .added_unix_nanos = [&](const std::string& container_id,
                                    const std::string& ifname) -> std::optional<int64_t> {
              auto found = added_.find(container_id + "/" + ifname);
              if (found == added_.end()) return std::nullopt;
              return found->second;
            },
            .del =
                [&](const std::string& container_id, const std::string& ifname,
                    const std::string& netns_path) {
                  deleted_.push_back(container_id + "/" + ifname + " " + netns_path);
                  if (!del_result_.ok()) return del_result_;
                  added_.erase(container_id + "/" + ifname);
                  return absl::OkStatus();
                },
        });
  }

  std::filesystem::path dir_;
  std::string socket_;
  std::map<std::string, int64_t> added_;  // the pods the agent has: key -> when added
  std::vector<std::string> deleted_;
  absl::Status del_result_ = absl::OkStatus();
};

TEST_F(QueuedDeletesTest, NoQueueIsNothingToDo) {
  QueuedDeletesReplay replay = Replay();
  EXPECT_EQ(replay.Summary(), "0 applied, 0 gone, 0 stale, 0 failed");
}

TEST_F(QueuedDeletesTest, DeletesAttachmentsOlderThanTheirQueuedDel) {
  added_ = {{"old/eth0", 100}, {"other/eth0", 50}};
  const std::string path = Queue("old", 200);
  QueuedDeletesReplay replay = Replay();
  EXPECT_EQ(replay.applied, 1u);
  EXPECT_THAT(deleted_, ElementsAre("old/eth0 /var/run/netns/old"));
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(added_.contains("other/eth0")) << "only what was queued goes";
}

TEST_F(QueuedDeletesTest, AttachmentAddedAgainAfterTheDelIsLeftAlone) {
  // The DEL was meant for the container's earlier attachment; this one came after it.
  added_ = {{"again/eth0", 300}};
  const std::string path = Queue("again", 200);
  QueuedDeletesReplay replay = Replay();
  EXPECT_EQ(replay.stale, 1u);
  EXPECT_THAT(deleted_, IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(path)) << "a stale DEL never applies: dropped";
}

TEST_F(QueuedDeletesTest, AlreadyGoneIsDropped) {
  const std::string path = Queue("gone", 200);
  QueuedDeletesReplay replay = Replay();
  EXPECT_EQ(replay.gone, 1u);
  EXPECT_THAT(deleted_, IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(QueuedDeletesTest, FailedDelStaysQueuedForTheNextStart) {
  added_ = {{"stuck/eth0", 100}};
  const std::string path = Queue("stuck", 200);
  del_result_ = absl::InternalError("netlink said no");
  QueuedDeletesReplay first = Replay();
  ASSERT_EQ(first.failures.size(), 1u);
  EXPECT_THAT(first.failures[0], HasSubstr("stuck/eth0"));
  EXPECT_THAT(first.failures[0], HasSubstr("netlink said no"));
  EXPECT_TRUE(std::filesystem::exists(path));

  del_result_ = absl::OkStatus();
  QueuedDeletesReplay second = Replay();
  EXPECT_EQ(second.applied, 1u);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(QueuedDeletesTest, GarbageIsRemovedAndNamedAndPartialWritesAreLeft) {
  const std::string garbage = PendingDeletePath(socket_, "garbage", "eth0");
  ASSERT_TRUE(WriteFileAtomically(garbage, "\xff\xff not a protobuf").ok());
  // A plugin killed while writing leaves its temporary file, which is not the queue's.
  const std::string partial = PendingDeletesDir(socket_) + "/x:eth0.del.tmp.42";
  ASSERT_TRUE(WriteFileAtomically(partial, "half").ok());
  QueuedDeletesReplay replay = Replay();
  ASSERT_EQ(replay.failures.size(), 1u);
  EXPECT_THAT(replay.failures[0], HasSubstr(garbage));
  EXPECT_FALSE(std::filesystem::exists(garbage));
  EXPECT_TRUE(std::filesystem::exists(partial));
  EXPECT_THAT(deleted_, IsEmpty());
}

}  // namespace
}  // namespace dpcni::dataplane
