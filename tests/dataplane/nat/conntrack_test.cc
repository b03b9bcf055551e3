// Reading the kernel's NATed connections, in a network namespace of the test's own whose conntrack
// table the test fills with conntrack(8).
#include "nat/conntrack.h"

#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>

#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netns/netns.h"
#include "tests/dataplane/nat/scratch_netns.h"

namespace dpcni::dataplane {
namespace {

constexpr uint32_t Ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

absl::StatusOr<std::vector<NatedFlow>> ReadIn(const testing::ScratchNetns& netns) {
  absl::StatusOr<std::vector<NatedFlow>> read;
  absl::Status entered = RunInNetns(netns.path(), [&] {
    read = ReadNatedConnections();
    return absl::OkStatus();
  });
  if (!entered.ok()) return entered;
  return read;
}

TEST(Conntrack, ReadsTheReplyTuplesOfNatedConnectionsOnly) {
  testing::ScratchNetns netns;
  // A ClusterIP connection DNATed to a pod and answered; a UDP one not answered yet; and a
  // pod-to-pod connection the kernel forwarded without NAT, which the dataplane needs no entry for.
  ASSERT_EQ(netns.Shell("conntrack -I -p tcp -s 10.244.0.10 -d 10.96.0.10 --sport 40000 --dport 80 "
                        "-r 10.244.0.11 -q 10.244.0.10 --reply-port-src 8080 "
                        "--reply-port-dst 40000 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 100 "
                        "--dst-nat 10.244.0.11:8080 2>/dev/null"),
            0);
  ASSERT_EQ(netns.Shell("conntrack -I -p udp -s 10.244.0.10 -d 10.96.0.10 --sport 5353 --dport 53 "
                        "-r 10.244.0.12 -q 10.244.0.10 --reply-port-src 53 --reply-port-dst 5353 "
                        "-t 100 --dst-nat 10.244.0.12:53 2>/dev/null"),
            0);
  ASSERT_EQ(netns.Shell("conntrack -I -p udp -s 10.244.0.10 -d 10.244.0.11 --sport 1 --dport 2 "
                        "-r 10.244.0.11 -q 10.244.0.10 --reply-port-src 2 --reply-port-dst 1 "
                        "-t 100 2>/dev/null"),
            0);

  absl::StatusOr<std::vector<NatedFlow>> nated = ReadIn(netns);
  ASSERT_TRUE(nated.ok()) << nated.status();
  ASSERT_EQ(nated->size(), 2u);
  const NatedFlow& tcp = (*nated)[0].protocol == IPPROTO_TCP ? (*nated)[0] : (*nated)[1];
  const NatedFlow& udp = (*nated)[0].protocol == IPPROTO_TCP ? (*nated)[1] : (*nated)[0];
  EXPECT_EQ(tcp.protocol, IPPROTO_TCP);
  EXPECT_EQ(tcp.reply_source, Ip(10, 244, 0, 11));
  EXPECT_EQ(tcp.reply_destination, Ip(10, 244, 0, 10));
  EXPECT_EQ(tcp.reply_source_port, 8080);
  EXPECT_EQ(tcp.reply_destination_port, 40000);
  EXPECT_TRUE(tcp.answered);
  EXPECT_EQ(udp.protocol, IPPROTO_UDP);
  EXPECT_EQ(udp.reply_source, Ip(10, 244, 0, 12));
  EXPECT_EQ(udp.reply_source_port, 53);
  EXPECT_EQ(udp.reply_destination_port, 5353);
  EXPECT_FALSE(udp.answered);
}

// A Service connection that closed stays in conntrack for two minutes (TIME_WAIT): it is read as
// closing, an open one not.
TEST(Conntrack, ReadsWhetherATcpConnectionIsClosing) {
  testing::ScratchNetns netns;
  for (const auto& [port, state] : {std::pair{40000, "ESTABLISHED"}, std::pair{40001, "TIME_WAIT"},
                                    std::pair{40002, "FIN_WAIT"}}) {
    const std::string p = std::to_string(port);
    ASSERT_EQ(netns.Shell("conntrack -I -p tcp -s 10.244.0.10 -d 10.96.0.10 --sport " + p +
                          " --dport 80 -r 10.244.0.11 -q 10.244.0.10 --reply-port-src 8080 "
                          "--reply-port-dst " +
                          p + " --state " + state +
                          " -u SEEN_REPLY,ASSURED -t 100 --dst-nat 10.244.0.11:8080 2>/dev/null"),
              0)
        << state;
  }
  absl::StatusOr<std::vector<NatedFlow>> nated = ReadIn(netns);
  ASSERT_TRUE(nated.ok()) << nated.status();
  ASSERT_EQ(nated->size(), 3u);
  for (const NatedFlow& flow : *nated) {
    EXPECT_EQ(flow.closing, flow.reply_destination_port != 40000) << flow.reply_destination_port;
  }
}

TEST(Conntrack, OnlyTheClosingStatesCountAsClosing) {
  EXPECT_FALSE(TcpStateIsClosing(TCP_CONNTRACK_SYN_SENT));
  EXPECT_FALSE(TcpStateIsClosing(TCP_CONNTRACK_SYN_RECV));
  EXPECT_FALSE(TcpStateIsClosing(TCP_CONNTRACK_ESTABLISHED));
  EXPECT_TRUE(TcpStateIsClosing(TCP_CONNTRACK_FIN_WAIT));
  EXPECT_TRUE(TcpStateIsClosing(TCP_CONNTRACK_CLOSE_WAIT));
  EXPECT_TRUE(TcpStateIsClosing(TCP_CONNTRACK_LAST_ACK));
  EXPECT_TRUE(TcpStateIsClosing(TCP_CONNTRACK_TIME_WAIT));
  EXPECT_TRUE(TcpStateIsClosing(TCP_CONNTRACK_CLOSE));
}

TEST(Conntrack, AnEmptyTableReadsAsNoConnections) {
  testing::ScratchNetns netns;
  absl::StatusOr<std::vector<NatedFlow>> nated = ReadIn(netns);
  ASSERT_TRUE(nated.ok()) << nated.status();
  EXPECT_TRUE(nated->empty());
}

}  // namespace
}  // namespace dpcni::dataplane
