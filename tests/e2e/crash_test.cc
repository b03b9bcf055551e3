// The agent killed (SIGKILL: no cleanup, as a crash or the OOM killer) while two pods exchange a
// TCP stream and a ping every 20 ms, then started again on the same state dir. The pods' interfaces
// are persistent taps, so each pod keeps its eth0 and address while no agent runs; the restarted
// agent re-attaches them, hands a new pod another address, and the traffic resumes: the ping's
// timestamps give the gap, printed for docs/testing.md. Tap backend only (what this kernel has),
// its own binary: it runs for about half a minute.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// A reply line of `ping -D`: "[1764567890.123456] 64 bytes from 10.99.0.3: icmp_seq=12 ...".
struct Reply {
  double unix_seconds = 0;
  int seq = 0;
};

std::vector<Reply> Replies(const std::string& ping_output) {
  static const std::regex kReply(R"(^\[(\d+\.\d+)\] \d+ bytes from [^:]+: icmp_seq=(\d+) )");
  std::vector<Reply> replies;
  for (absl::string_view line : absl::StrSplit(ping_output, '\n')) {
    std::smatch match;
    const std::string text(line);
    if (!std::regex_search(text, match, kReply)) continue;
    Reply reply;
    if (!absl::SimpleAtod(match[1].str(), &reply.unix_seconds) ||
        !absl::SimpleAtoi(match[2].str(), &reply.seq)) {
      continue;
    }
    replies.push_back(reply);
  }
  return replies;
}

// The bit rates of an iperf3 server's one-second interval lines, "[  5]   3.00-4.00   sec  2.38
// MBytes  20.0 Mbits/sec", in order (the summary lines after the "- - -" line left out).
std::vector<double> IntervalRates(const std::string& server_text) {
  static const std::regex kInterval(
      R"(^\[\s*\d+\]\s+[\d.]+-[\d.]+\s+sec\s+[\d.]+ \w?Bytes\s+([\d.]+) (\w?)bits/sec)");
  std::vector<double> rates;
  for (absl::string_view line : absl::StrSplit(server_text, '\n')) {
    if (absl::StartsWith(line, "- - -")) break;
    std::smatch match;
    const std::string text(line);
    double rate = 0;
    if (!std::regex_search(text, match, kInterval) || !absl::SimpleAtod(match[1].str(), &rate)) {
      continue;
    }
    const std::string unit = match[2].str();
    rates.push_back(rate * (unit == "G" ? 1e9 : unit == "M" ? 1e6 : unit == "K" ? 1e3 : 1));
  }
  return rates;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The IPv4 addresses on `ifname` in the netns, as "10.99.0.2/32"; empty when the link is gone.
std::vector<std::string> AddressesOn(const Netns& netns, const std::string& ifname) {
  CommandResult shown = RunIn(netns.name(), {"ip", "-j", "-4", "addr", "show", "dev", ifname});
  std::vector<std::string> addresses;
  if (shown.exit_code != 0) return addresses;
  for (const auto& link : ParseOutput(shown)) {
    for (const auto& address : link.value("addr_info", nlohmann::json::array())) {
      addresses.push_back(
          absl::StrCat(address.value("local", ""), "/", address.value("prefixlen", 0)));
    }
  }
  return addresses;
}

std::vector<dpcni::v1::PodInfo> ListPods(Agent& agent) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  dpcni::v1::ListPodsResponse listed;
  EXPECT_TRUE(agent.api().ListPods(&context, {}, &listed).ok());
  return {listed.pods().begin(), listed.pods().end()};
}

// A tap node whose agent the tests kill; the fixture prints how it ended and its log on failure.
class CrashTest : public NodeTest<> {};

TEST_F(CrashTest, KilledUnderTrafficEveryPodKeepsItsAddressAndTrafficResumes) {
  TestNode& node = *node_;
  std::string failure;
  Pod& a = node.AddPod("a");
  Pod& b = node.AddPod("b");
  const std::string a_cidr = a.ip + "/32";
  const std::string b_cidr = b.ip + "/32";
  ASSERT_EQ(AddressesOn(*a.netns, "eth0"), std::vector<std::string>{a_cidr});
  ASSERT_EQ(AddressesOn(*b.netns, "eth0"), std::vector<std::string>{b_cidr});

  // One TCP connection for the whole test (iperf3's data stream, rate-limited so that two shared
  // cores keep up), and the ping.
  // --forceflush: the server's lines reach its output file as they happen.
  Background server({"ip", "netns", "exec", b.netns->name(), "iperf3", "-s", "-1", "--forceflush"});
  ASSERT_TRUE(server.WaitForOutput("Server listening")) << server.Describe();
  // --get-server-output: the receiver's intervals too (the sender's count what its socket buffer
  // took, which hides a stall shorter than that buffer).
  Background stream({"ip", "netns", "exec", a.netns->name(), "iperf3", "-c", b.ip, "-t", "25", "-b",
                     "20M", "-J", "--get-server-output"});
  ASSERT_TRUE(server.WaitForOutput("Accepted connection")) << server.Describe();
  Background ping({"ip", "netns", "exec", a.netns->name(), "ping", "-D", "-n", "-i", "0.02", b.ip});
  ASSERT_TRUE(ping.WaitForOutput("icmp_seq=50 ")) << ping.Describe();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_TRUE(stream.Running()) << stream.Describe();

  const double killed_at = WallSeconds();
  node.agent().Kill();
  // No agent, no dataplane: the pods still have their interfaces and addresses.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(AddressesOn(*a.netns, "eth0"), std::vector<std::string>{a_cidr});
  EXPECT_EQ(AddressesOn(*b.netns, "eth0"), std::vector<std::string>{b_cidr});

  const double restarted_at = WallSeconds();
  const auto restart = Clock::now();
  ASSERT_TRUE(node.agent().Start(&failure)) << failure;
  const double serving_after = std::chrono::duration<double>(Clock::now() - restart).count();
  const double served_at = WallSeconds();

  // The ping resumes: replies with timestamps after the restart.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  std::vector<Reply> replies;
  while (Clock::now() < deadline) {
    replies = Replies(ping.Output());
    if (!replies.empty() && replies.back().unix_seconds > served_at + 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(replies.empty()) << ping.Describe();
  ASSERT_GT(replies.back().unix_seconds, served_at + 1)
      << "the ping did not resume within 30 s of the restart\n"
      << ping.Describe() << "\nagent log:\n"
      << node.agent().Log();
  double gap = 0;
  double gap_from = 0;
  for (size_t i = 1; i < replies.size(); ++i) {
    if (replies[i].unix_seconds - replies[i - 1].unix_seconds > gap) {
      gap = replies[i].unix_seconds - replies[i - 1].unix_seconds;
      gap_from = replies[i - 1].unix_seconds;
    }
  }
  // The gap holds the time no agent ran (the checks above, as a supervisor's restart delay would)
  // and the new agent's start up to the re-attached pods' first reply.
  std::cout << absl::StrFormat(
                   "crash under traffic (tap backend): ping gap %.0f ms (the largest interval "
                   "between consecutive replies; last reply %.0f ms before the kill), of which "
                   "%.0f ms without an agent and %.0f ms from the restart to the first reply; "
                   "the agent answered Status %.2f s after the restart; %zu replies",
                   gap * 1000, (killed_at - gap_from) * 1000, (restarted_at - killed_at) * 1000,
                   (gap_from + gap - restarted_at) * 1000, serving_after, replies.size())
            << std::endl;
  // Generous: the gap is the agent's start (EAL, restore) on a shared machine, seconds at most.
  EXPECT_GT(gap, 0.05) << "no gap: was the agent killed at all?";
  EXPECT_LT(gap, 30);
  EXPECT_LE(gap_from, killed_at + 0.1) << "the largest gap is not the one of the kill";

  // Both pods kept eth0 and their address, are attached (not degraded) with the same addresses,
  // and a new pod gets another one.
  EXPECT_EQ(AddressesOn(*a.netns, "eth0"), std::vector<std::string>{a_cidr});
  EXPECT_EQ(AddressesOn(*b.netns, "eth0"), std::vector<std::string>{b_cidr});
  const std::vector<dpcni::v1::PodInfo> pods = ListPods(node.agent());
  ASSERT_EQ(pods.size(), 2u);
  for (const dpcni::v1::PodInfo& pod : pods) {
    EXPECT_FALSE(pod.degraded()) << pod.pod().name() << ": " << pod.degraded_reason();
    ASSERT_EQ(pod.ips_size(), 1);
    EXPECT_EQ(pod.ips(0).cidr(), pod.pod().name() == "a" ? a_cidr : b_cidr);
  }
  EXPECT_EQ(node.Status().pods_degraded(), 0u);
  Pod& c = node.AddPod("c");
  EXPECT_NE(c.ip, a.ip);
  EXPECT_NE(c.ip, b.ip);

  // The TCP stream went on over the same connection: iperf3 ends cleanly (it reports an error
  // when its connection breaks), and data flowed after the gap.
  const auto stream_deadline = Clock::now() + std::chrono::seconds(60);
  while (stream.Running() && Clock::now() < stream_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_FALSE(stream.Running()) << stream.Describe();
  const nlohmann::json report =
      nlohmann::json::parse(stream.Output(), nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(report.is_object()) << stream.Describe();
  EXPECT_FALSE(report.contains("error")) << report.value("error", "");
  // The receiver's one-second intervals: the slowest is the one of the gap.
  const std::vector<double> received_intervals =
      IntervalRates(report.value("server_output_text", ""));
  ASSERT_FALSE(received_intervals.empty()) << "no receiver intervals: " << stream.Describe();
  const double slowest = *std::min_element(received_intervals.begin(), received_intervals.end());
  const double last_bits = received_intervals.back();
  const double received =
      report.contains("end") ? report["end"]["sum_received"].value("bytes", 0.0) : 0;
  std::cout << absl::StrFormat(
                   "TCP (one iperf3 connection, 20 Mbit/s, not reconnected): slowest received "
                   "second %.1f Mbit/s, last %.1f Mbit/s, %.1f MB received in %zu s",
                   slowest / 1e6, last_bits / 1e6, received / 1e6, received_intervals.size())
            << std::endl;
  EXPECT_GT(last_bits, 0) << "no data in the stream's last second";
  EXPECT_GT(received, 0);
  if (HasFailure()) std::cout << "agent log:\n" << node.agent().Log() << std::endl;
}

// A pod whose re-attach fails after a restart: its eth0 was replaced, while no agent ran, by a
// dummy link of the same name and address, which the tap PMD cannot attach to (TUNSETIFF on a name
// that is no tap: EINVAL). The pod keeps that link and its address, is reported degraded, its
// address goes to no other pod, and the agent's retry attaches it once the fault is gone.
TEST_F(CrashTest, PodWhoseReattachFailsStaysDegradedUntilTheRetryAttachesIt) {
  TestNode& node = *node_;
  std::string failure;
  Pod& a = node.AddPod("a");
  Pod& b = node.AddPod("b");
  const std::string a_cidr = a.ip + "/32";
  node.agent().Kill();
  for (const std::vector<std::string>& step :
       {std::vector<std::string>{"ip", "link", "del", "eth0"},
        {"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0peer"},
        {"ip", "addr", "add", a_cidr, "dev", "eth0"},
        {"ip", "link", "set", "eth0", "up"}}) {
    CommandResult done = RunIn(a.netns->name(), step);
    ASSERT_EQ(done.exit_code, 0) << done.Describe();
  }
  ASSERT_TRUE(node.agent().Start(&failure)) << failure;

  const dpcni::v1::StatusResponse status = node.Status();
  EXPECT_EQ(status.pods(), 2u);
  EXPECT_EQ(status.pods_degraded(), 1u);
  const dpcni::v1::PodInfo degraded = node.InfoOf(a);
  EXPECT_TRUE(degraded.degraded());
  EXPECT_FALSE(degraded.degraded_reason().empty());
  std::cout << "degraded: " << degraded.degraded_reason() << std::endl;
  EXPECT_FALSE(node.InfoOf(b).degraded());
  // The failed attempt left the pod's link alone, and its address is still a's.
  EXPECT_EQ(AddressesOn(*a.netns, "eth0"), std::vector<std::string>{a_cidr});
  Pod& c = node.AddPod("c");
  EXPECT_NE(c.ip, a.ip);
  EXPECT_TRUE(Ping(c.netns->name(), b.ip)) << "the other pods are served meanwhile";

  // The fault goes: the next retry (1 s, doubling up to 30 s) makes the tap and configures it.
  CommandResult removed = RunIn(a.netns->name(), {"ip", "link", "del", "eth0"});
  ASSERT_EQ(removed.exit_code, 0) << removed.Describe();
  const auto deadline = Clock::now() + std::chrono::seconds(45);
  while (node.InfoOf(a).degraded() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const dpcni::v1::PodInfo healed = node.InfoOf(a);
  EXPECT_FALSE(healed.degraded()) << healed.degraded_reason();
  EXPECT_EQ(healed.ips(0).cidr(), a_cidr);
  EXPECT_EQ(node.Status().pods_degraded(), 0u);
  EXPECT_EQ(AddressesOn(*a.netns, "eth0"), std::vector<std::string>{a_cidr});
  EXPECT_TRUE(Ping(a.netns->name(), b.ip));
  if (HasFailure()) std::cout << "agent log:\n" << node.agent().Log() << std::endl;
}

}  // namespace
}  // namespace dpcni::e2e
