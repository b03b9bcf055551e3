// Kubernetes Services through the node's kernel (issue 9). kube-proxy's rules DNAT a ClusterIP,
// NodePort or hostPort flow in the node's netns and send it into the dataplane through the host
// port dpcni0; the replies must come back through the same kernel, whose conntrack reverses the
// NAT, or the client drops them (they come from the pod's own address, not the one it asked).
//
// The bed is node_network_test's (a node netns running the agent with an af_packet uplink on the
// veth up0, an "outside" host at its other end), plus the rules kube-proxy and the portmap plugin
// would install, in one of two flavours: nftables (tables of their own, as kube-proxy's nftables
// mode) or iptables-nft (`-t nat` chains, as kube-proxy's iptables mode). Pods A and B run
// dpcni_test_echo, whose replies name the client address the server saw. Every test prints the
// backend and the rule flavour it ran.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <iostream>
#include <optional>
#include <sstream>
#include <tuple>

#include "harness.h"

namespace dpcni::e2e {
namespace {

constexpr char kEcho[] = DPCNI_TEST_ECHO_PATH;
constexpr char kOutsideIp[] = "192.168.77.1";
constexpr char kUplinkIp[] = "192.168.77.2";  // the node's address on the uplink network
constexpr char kHostPortIp[] = "10.99.0.1";   // the node's on dpcni0 (first of the pod CIDR)

// ClusterIPs, from a service range outside the pod CIDR: pods reach them through their default
// route, which the dataplane sends to the host port.
constexpr char kServiceIp[] = "10.96.0.10";      // TCP 80 and UDP 53 → pod B
constexpr char kHairpinIp[] = "10.96.0.20";      // TCP 80 and UDP 53 → pod A, the client itself
constexpr char kAnyProtocolIp[] = "10.96.0.30";  // every protocol → pod B (so ping is DNATed too)
constexpr char kServiceTcpPort[] = "80";
constexpr char kServiceUdpPort[] = "53";
constexpr char kNodePortTcp[] = "30080";
constexpr char kNodePortUdp[] = "30053";
constexpr char kHostPort[] = "8081";  // TCP, on every node address → pod B
// What the echo servers listen on in the pods.
constexpr char kPodTcpPort[] = "8080";
constexpr char kPodUdpPort[] = "5353";

using Param = std::tuple<std::string, std::string>;  // backend, rule flavour

std::string ParamName(const testing::TestParamInfo<Param>& info) {
  std::string backend = std::get<0>(info.param);
  std::erase(backend, '-');
  return backend + "_" + std::get<1>(info.param);
}

// Sets `command` up inside `netns`, failing the test with its output when it does not succeed.
void MustRun(const std::string& netns, const std::vector<std::string>& command,
             const std::string& input = "") {
  std::vector<std::string> argv = {"ip", "netns", "exec", netns};
  argv.insert(argv.end(), command.begin(), command.end());
  CommandResult result = Run(argv, {}, input);
  ASSERT_EQ(result.exit_code, 0) << netns << ": " << result.Describe() << "\ninput:\n" << input;
}

// kube-proxy's nftables mode keeps its rules in a table of its own (it matches with sets and
// verdict maps; plain rules do the same per Service), the portmap plugin's nftables backend in
// another.
// NodePorts and hostPorts match every local address (`fib daddr type local`), as both do.
std::string NftablesRules(const std::string& a, const std::string& b) {
  std::ostringstream rules;
  rules << "table ip kube-proxy {\n"
        << "  chain services {\n"
        << "    ip daddr " << kServiceIp << " tcp dport " << kServiceTcpPort << " dnat to " << b
        << ":" << kPodTcpPort << "\n"
        << "    ip daddr " << kServiceIp << " udp dport " << kServiceUdpPort << " dnat to " << b
        << ":" << kPodUdpPort << "\n"
        << "    ip daddr " << kHairpinIp << " tcp dport " << kServiceTcpPort << " dnat to " << a
        << ":" << kPodTcpPort << "\n"
        << "    ip daddr " << kHairpinIp << " udp dport " << kServiceUdpPort << " dnat to " << a
        << ":" << kPodUdpPort << "\n"
        << "    ip daddr " << kAnyProtocolIp << " dnat to " << b << "\n"
        << "    fib daddr type local tcp dport " << kNodePortTcp << " dnat to " << b << ":"
        << kPodTcpPort << "\n"
        << "    fib daddr type local udp dport " << kNodePortUdp << " dnat to " << b << ":"
        << kPodUdpPort << "\n"
        << "  }\n"
        << "  chain nat-prerouting {\n"
        << "    type nat hook prerouting priority dstnat; policy accept;\n"
        << "    jump services\n"
        << "  }\n"
        << "  chain nat-output {\n"
        << "    type nat hook output priority -100; policy accept;\n"
        << "    jump services\n"
        << "  }\n"
        // kube-proxy marks a connection whose endpoint is its own client for masquerade (else the
        // pod would see its own address as the peer and answer itself directly).
        << "  chain nat-postrouting {\n"
        << "    type nat hook postrouting priority srcnat; policy accept;\n"
        << "    ip saddr " << a << " ip daddr " << a << " masquerade\n"
        << "  }\n"
        << "}\n"
        << "table ip cni_hostport {\n"
        << "  chain hostports {\n"
        << "    tcp dport " << kHostPort << " dnat to " << b << ":" << kPodTcpPort << "\n"
        << "  }\n"
        << "  chain prerouting {\n"
        << "    type nat hook prerouting priority dstnat; policy accept;\n"
        << "    fib daddr type local jump hostports\n"
        << "  }\n"
        << "  chain output {\n"
        << "    type nat hook output priority -100; policy accept;\n"
        << "    fib daddr type local jump hostports\n"
        << "  }\n"
        << "}\n";
  return rules.str();
}

// kube-proxy's iptables mode and the portmap plugin's iptables backend, through iptables-nft (the
// `iptables` of Debian 12): chains in the nat table, loaded with iptables-restore as kube-proxy
// does.
std::string IptablesRules(const std::string& a, const std::string& b) {
  auto dnat = [](const std::string& match, const std::string& to) {
    return "-A " + match + " -j DNAT --to-destination " + to + "\n";
  };
  const std::string b_tcp = b + ":" + kPodTcpPort, b_udp = b + ":" + kPodUdpPort;
  std::ostringstream rules;
  rules << "*nat\n"
        << ":KUBE-SERVICES - [0:0]\n"
        << ":KUBE-NODEPORTS - [0:0]\n"
        << ":KUBE-POSTROUTING - [0:0]\n"
        << ":CNI-HOSTPORT-DNAT - [0:0]\n"
        << "-A PREROUTING -j KUBE-SERVICES\n"
        << "-A OUTPUT -j KUBE-SERVICES\n"
        << "-A POSTROUTING -j KUBE-POSTROUTING\n"
        << dnat("KUBE-SERVICES -d " + std::string(kServiceIp) + "/32 -p tcp -m tcp --dport " +
                    kServiceTcpPort,
                b_tcp)
        << dnat("KUBE-SERVICES -d " + std::string(kServiceIp) + "/32 -p udp -m udp --dport " +
                    kServiceUdpPort,
                b_udp)
        << dnat("KUBE-SERVICES -d " + std::string(kHairpinIp) + "/32 -p tcp -m tcp --dport " +
                    kServiceTcpPort,
                a + ":" + kPodTcpPort)
        << dnat("KUBE-SERVICES -d " + std::string(kHairpinIp) + "/32 -p udp -m udp --dport " +
                    kServiceUdpPort,
                a + ":" + kPodUdpPort)
        << dnat("KUBE-SERVICES -d " + std::string(kAnyProtocolIp) + "/32", b)
        << "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n"
        << dnat("KUBE-NODEPORTS -p tcp -m tcp --dport " + std::string(kNodePortTcp), b_tcp)
        << dnat("KUBE-NODEPORTS -p udp -m udp --dport " + std::string(kNodePortUdp), b_udp)
        // Hairpin: kube-proxy's KUBE-MARK-MASQ and KUBE-POSTROUTING, in one rule.
        << "-A KUBE-POSTROUTING -s " << a << "/32 -d " << a << "/32 -j MASQUERADE\n"
        << "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n"
        << "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT\n"
        << dnat("CNI-HOSTPORT-DNAT -p tcp -m tcp --dport " + std::string(kHostPort), b_tcp)
        << "COMMIT\n";
  return rules.str();
}

class ServiceNetworkTest : public testing::TestWithParam<Param> {
 protected:
  const std::string& backend() const { return std::get<0>(GetParam()); }
  const std::string& flavour() const { return std::get<1>(GetParam()); }

  void SetUp() override {
    std::cout << "backend=" << backend() << " uplink=af_packet rules=" << flavour() << std::endl;
    RecordProperty("backend", backend());
    RecordProperty("rules", flavour());
    AgentOptions options;
    options.backend = backend();
    options.extra_yaml = std::string("uplink:\n  type: af_packet\n  interface: up0\n  address: ") +
                         kUplinkIp + "/24\n";
    node_ = std::make_unique<TestNode>(options);
    outside_ = std::make_unique<Netns>(UniqueName("outside"));
    const std::string node = node_->netns().name();
    const std::string outside = outside_->name();

    MustRun(node, {"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    MustRun(node,
            {"ip", "link", "add", "up0", "type", "veth", "peer", "name", "out0", "netns", outside});
    // af_packet reads the frames that arrive on up0 beside the node's kernel, which must not take
    // them too. The node's kernel owns the uplink address (below, for NodePorts and hostPorts), so
    // from up0 it would answer ARP for it and take every packet for it a second time: it DNATs the
    // NodePort SYN from up0 as well as the one from dpcni0, and what is for the node itself it
    // would answer twice. forwarding=0 stops only the forwarding of what came in on up0, not the
    // DNAT, the local delivery nor ARP (measured: with it alone the nat prerouting chain counts
    // the SYN on up0 and the kernel sends an ARP reply out of up0). A netdev ingress chain on up0
    // with policy drop stops all of it: af_packet's taps see a frame before the ingress hook, the
    // kernel's ARP and IP receive after it. arp_ignore=8 (no ARP replies on up0) besides.
    MustRun(node, {"sysctl", "-qw", "net.ipv4.conf.up0.forwarding=0"});
    MustRun(node, {"sysctl", "-qw", "net.ipv4.conf.up0.arp_ignore=8"});
    MustRun(node, {"nft",
                   "add table netdev uplink-to-dpdk-only; "
                   "add chain netdev uplink-to-dpdk-only ingress "
                   "{ type filter hook ingress device up0 priority 0; policy drop; }"});
    MustRun(node, {"ip", "link", "set", "up0", "up"});
    MustRun(outside, {"ip", "addr", "add", std::string(kOutsideIp) + "/24", "dev", "out0"});
    MustRun(outside, {"ip", "link", "set", "out0", "up"});
    // A veth hands af_packet partial checksums; a real NIC does not (docs/testing.md).
    MustRun(outside,
            {"ethtool", "-K", "out0", "tx", "off", "tso", "off", "gso", "off", "sg", "off"});
    if (HasFatalFailure()) return;

    std::string failure;
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
    // The node's kernel owns its uplink address, as on a node whose NIC the dataplane took:
    // NodePort and hostPort DNAT match local addresses only. It reaches the uplink network through
    // dpcni0 (the dataplane answers the kernel's ARP for it and sends it out of the uplink).
    // Without that route the kernel has no way back to the outside host (measured: a SYN to a
    // closed port of the node goes unanswered), and with rp_filter on (systemd's defaults set
    // loose mode, 2; it is 0 in this bed) it would drop what comes from there.
    MustRun(node, {"ip", "addr", "add", std::string(kUplinkIp) + "/32", "dev", "lo"});
    MustRun(node, {"ip", "route", "add", "192.168.77.0/24", "dev", "dpcni0", "src", kUplinkIp});
    // Its default gateway is on the uplink network, as on a real node (and the node's own traffic
    // to a ClusterIP needs a route before the output hook's DNAT picks the endpoint).
    MustRun(node, {"ip", "route", "add", "default", "via", kOutsideIp, "dev", "dpcni0", "src",
                   kUplinkIp});
    if (HasFatalFailure()) return;

    a_ = &node_->AddPod("a");
    b_ = &node_->AddPod("b");
    ASSERT_FALSE(a_->ip.empty() || b_->ip.empty()) << "pods without an address";
    for (Pod* pod : {a_, b_}) {
      servers_.push_back(std::make_unique<Background>(
          std::vector<std::string>{"ip", "netns", "exec", pod->netns->name(), kEcho, "serve",
                                   "--tcp", kPodTcpPort, "--udp", kPodUdpPort}));
      ASSERT_TRUE(servers_.back()->WaitForOutput("serving")) << servers_.back()->Describe();
    }

    if (flavour() == "nftables") {
      MustRun(node, {"nft", "-f", "-"}, NftablesRules(a_->ip, b_->ip));
    } else {
      MustRun(node, {"iptables-nft-restore", "--noflush"}, IptablesRules(a_->ip, b_->ip));
    }
  }

  void TearDown() override {
    if (HasFailure() && node_) {
      for (const auto& server : servers_) std::cout << server->Describe() << std::endl;
      std::cout << "node's rules (with their counters):\n"
                << RunIn(node_->netns().name(), {"nft", "list", "ruleset"}).out << "agent log:\n"
                << node_->agent().Log() << std::endl;
    }
    servers_.clear();  // before the pods' namespaces go
    node_.reset();
    outside_.reset();
  }

  // A request/reply with dpcni_test_echo from `from_netns`; succeeds when it was answered and the
  // server saw the client as `expected_peer`.
  testing::AssertionResult RoundTrip(const std::string& from_netns, const std::string& protocol,
                                     const std::string& host, const std::string& port,
                                     const std::string& expected_peer) {
    CommandResult result = RunIn(from_netns, {kEcho, protocol, host, port, "--timeout", "3"},
                                 std::chrono::seconds(30));
    const std::string what = protocol + " " + host + ":" + port + " from " + from_netns;
    if (result.exit_code != 0) {
      return testing::AssertionFailure() << what << " got no answer: " << result.Describe();
    }
    const size_t at = result.out.find("peer=");
    const size_t colon = result.out.find(':', at);
    if (at == std::string::npos || colon == std::string::npos) {
      return testing::AssertionFailure() << what << ": reply without peer=: " << result.out;
    }
    const std::string peer = result.out.substr(at + 5, colon - at - 5);
    if (peer != expected_peer) {
      return testing::AssertionFailure()
             << what << ": the server saw the client as " << peer << ", expected " << expected_peer;
    }
    return testing::AssertionSuccess();
  }

  // Three echo requests, each answered by `to_ip` itself: iputils ping also counts a reply from
  // another address, so the replies' sources are checked.
  testing::AssertionResult PingRoundTrip(const std::string& from_netns, const std::string& to_ip) {
    CommandResult result =
        RunIn(from_netns, {"ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", to_ip});
    const std::string reply = " bytes from " + to_ip + ":";
    size_t answered = 0;
    for (size_t at = 0; (at = result.out.find(reply, at)) != std::string::npos; ++at) ++answered;
    if (result.exit_code != 0 || answered != 3) {
      return testing::AssertionFailure() << "ping " << to_ip << " from " << from_netns << ": "
                                         << answered << " of 3 answered from " << to_ip << "\n"
                                         << result.Describe();
    }
    return testing::AssertionSuccess();
  }

  // The agent's flow table (ListFlows), or nullopt with a test failure.
  std::optional<dpcni::v1::ListFlowsResponse> ListFlows() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    dpcni::v1::ListFlowsResponse response;
    const grpc::Status status = node_->agent().api().ListFlows(&context, {}, &response);
    if (!status.ok()) {
      ADD_FAILURE() << "ListFlows failed: gRPC code " << status.error_code()
                    << (status.error_code() == grpc::StatusCode::UNIMPLEMENTED
                            ? " (UNIMPLEMENTED: this agent has no flow table)"
                            : "")
                    << " " << status.error_message();
      return std::nullopt;
    }
    return response;
  }

  std::unique_ptr<TestNode> node_;
  std::unique_ptr<Netns> outside_;
  Pod* a_ = nullptr;
  Pod* b_ = nullptr;
  std::vector<std::unique_ptr<Background>> servers_;
};

// The control: what never passes the node's kernel works as before.
TEST_P(ServiceNetworkTest, PodReachesPodDirectly) {
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "tcp", b_->ip, kPodTcpPort, a_->ip));
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "udp", b_->ip, kPodUdpPort, a_->ip));
  EXPECT_TRUE(PingRoundTrip(a_->netns->name(), b_->ip));
}

// A Service whose endpoint runs on the client's node: every Service next to its client, and DNS
// for every pod on a node with a CoreDNS replica.
TEST_P(ServiceNetworkTest, ClusterIpReachesAPodOnTheSameNode) {
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "tcp", kServiceIp, kServiceTcpPort, a_->ip));
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "udp", kServiceIp, kServiceUdpPort, a_->ip));
  EXPECT_TRUE(PingRoundTrip(a_->netns->name(), kAnyProtocolIp));
}

// A pod that reaches a Service whose endpoint is itself: the rule masquerades it, so the pod sees
// the node's address (dpcni0's, the interface the kernel sends it out of) and answers the kernel.
TEST_P(ServiceNetworkTest, HairpinClusterIpReachesTheClientItselfMasqueraded) {
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "tcp", kHairpinIp, kServiceTcpPort, kHostPortIp));
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "udp", kHairpinIp, kServiceUdpPort, kHostPortIp));
}

// The node's own processes (and hostNetwork pods) reach Services through the kernel's output hook,
// from the node's address (the source its default route names).
TEST_P(ServiceNetworkTest, NodeReachesAClusterIp) {
  EXPECT_TRUE(RoundTrip(node_->netns().name(), "tcp", kServiceIp, kServiceTcpPort, kUplinkIp));
  EXPECT_TRUE(RoundTrip(node_->netns().name(), "udp", kServiceIp, kServiceUdpPort, kUplinkIp));
}

// externalTrafficPolicy: Local, no SNAT: the pod sees the outside client's own address, and its
// replies must still leave through the kernel, which turns their source back into the NodePort.
TEST_P(ServiceNetworkTest, NodePortFromTheUplinkNetworkKeepsTheClientAddress) {
  EXPECT_TRUE(RoundTrip(outside_->name(), "tcp", kUplinkIp, kNodePortTcp, kOutsideIp));
  EXPECT_TRUE(RoundTrip(outside_->name(), "udp", kUplinkIp, kNodePortUdp, kOutsideIp));
}

// A hostPort (the portmap plugin's DNAT on every node address), from the uplink network and from
// another pod on the node, through the node's uplink address and through dpcni0's.
TEST_P(ServiceNetworkTest, HostPortFromTheOutsideHostAndFromAPod) {
  EXPECT_TRUE(RoundTrip(outside_->name(), "tcp", kUplinkIp, kHostPort, kOutsideIp));
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "tcp", kUplinkIp, kHostPort, a_->ip));
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "tcp", kHostPortIp, kHostPort, a_->ip));
}

// The dataplane keeps what the kernel forwarded in its flow table and steers the replies back; pod
// to pod traffic never enters it.
TEST_P(ServiceNetworkTest, FlowTableTracksOnlyWhatTheKernelForwarded) {
  const auto before = ListFlows();
  ASSERT_TRUE(before);
  EXPECT_GT(before->stats().capacity(), 0u);
  ASSERT_TRUE(RoundTrip(a_->netns->name(), "tcp", b_->ip, kPodTcpPort, a_->ip));
  ASSERT_TRUE(RoundTrip(a_->netns->name(), "udp", b_->ip, kPodUdpPort, a_->ip));
  const auto direct = ListFlows();
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->stats().inserts(), before->stats().inserts())
      << "pod-to-pod traffic that never passed the node's kernel entered the flow table";
  EXPECT_EQ(direct->stats().hits(), before->stats().hits())
      << "pod-to-pod traffic that never passed the node's kernel was steered to it";

  ASSERT_TRUE(RoundTrip(a_->netns->name(), "udp", kServiceIp, kServiceUdpPort, a_->ip));
  const auto udp = ListFlows();
  ASSERT_TRUE(udp);
  EXPECT_GT(udp->stats().inserts(), direct->stats().inserts()) << "no flow recorded";
  EXPECT_GT(udp->stats().hits(), direct->stats().hits()) << "no reply counted as steered";
  // The flow is listed as the reply the dataplane watches for: from B's server to A's socket.
  bool listed = false;
  for (const auto& flow : udp->flows()) {
    listed |= flow.protocol() == "udp" && flow.reply_source() == b_->ip + ":" + kPodUdpPort &&
              flow.reply_destination().rfind(a_->ip + ":", 0) == 0;
  }
  EXPECT_TRUE(listed) << "no udp flow " << b_->ip << ":" << kPodUdpPort << " -> " << a_->ip
                      << ":* listed:\n"
                      << udp->DebugString();

  ASSERT_TRUE(RoundTrip(a_->netns->name(), "tcp", kServiceIp, kServiceTcpPort, a_->ip));
  const auto tcp = ListFlows();
  ASSERT_TRUE(tcp);
  EXPECT_GT(tcp->stats().inserts(), udp->stats().inserts()) << "no flow recorded";
  EXPECT_GT(tcp->stats().hits(), udp->stats().hits()) << "no reply counted as steered";
  std::cout << "backend=" << backend() << " rules=" << flavour()
            << " flow table: " << tcp->stats().entries() << " of " << tcp->stats().capacity()
            << " entries, " << tcp->stats().inserts() << " inserts, " << tcp->stats().hits()
            << " hits" << std::endl;
}

// A client may reuse a source port for a direct connection to a Service's endpoint soon after a
// connection through the ClusterIP to the same endpoint closed: after the DNAT both carry the same
// 5-tuple. The old one's tracked reply must not catch the new one's (its SYN-ACK would go to the
// kernel, which undoes the old NAT on it: the client would see an answer from the ClusterIP, and
// retry until it gives up). conntrack holds the closed connection for two minutes, the flow table
// for as long; the k8s lane met this by chance when the kernel picked the same port.
TEST_P(ServiceNetworkTest, ADirectConnectionMayReuseTheTupleOfAClosedServiceConnection) {
  constexpr char kSourcePort[] = "41234";
  auto from_port = [&](const std::string& host, const std::string& port) {
    return RunIn(a_->netns->name(),
                 {kEcho, "tcp", host, port, "--timeout", "5", "--source-port", kSourcePort},
                 std::chrono::seconds(30));
  };
  // The direct connection succeeds, and none of its replies was steered to the kernel: its first
  // SYN-ACK reached the client (a steered one is lost, and only a retry might get through).
  auto direct_is_its_own = [&](const std::string& when) {
    const auto before = ListFlows();
    ASSERT_TRUE(before);
    CommandResult direct = from_port(b_->ip, kPodTcpPort);
    EXPECT_EQ(direct.exit_code, 0) << when << ": a direct connection on the tuple of a closed "
                                   << "Service connection got no answer: " << direct.Describe();
    EXPECT_NE(direct.out.find("peer=" + a_->ip + ":" + kSourcePort), std::string::npos)
        << direct.out;
    const auto after = ListFlows();
    ASSERT_TRUE(after);
    EXPECT_EQ(after->stats().hits(), before->stats().hits())
        << when << ": replies of the direct connection were steered to the kernel\n"
        << after->DebugString();
  };
  CommandResult service = from_port(kServiceIp, kServiceTcpPort);
  ASSERT_EQ(service.exit_code, 0) << service.Describe();
  direct_is_its_own("while the agent runs");
  // And the other way round: the ClusterIP again, on the tuple the direct connection used.
  service = from_port(kServiceIp, kServiceTcpPort);
  ASSERT_EQ(service.exit_code, 0) << service.Describe();

  // After an agent restart the flow table learns the closed connection from conntrack (TIME_WAIT
  // for two minutes): as closing, not as an open one.
  node_->agent().Stop();
  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  direct_is_its_own("after an agent restart");
}

// An agent restart (an upgrade) empties the flow table while the kernel still NATs connections to
// pods: the new agent reads them from conntrack before it serves, so that their replies go back
// through the kernel even before the kernel forwards anything of them again.
TEST_P(ServiceNetworkTest, ARestartedAgentLearnsTheKernelsNatedConnections) {
  ASSERT_TRUE(RoundTrip(a_->netns->name(), "udp", kServiceIp, kServiceUdpPort, a_->ip));
  node_->agent().Stop();
  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  const auto seeded = ListFlows();
  ASSERT_TRUE(seeded);
  bool listed = false;
  for (const auto& flow : seeded->flows()) {
    listed |= flow.protocol() == "udp" && flow.reply_source() == b_->ip + ":" + kPodUdpPort &&
              flow.reply_destination().rfind(a_->ip + ":", 0) == 0 && flow.state() == "replied";
  }
  EXPECT_TRUE(listed) << "the restarted agent did not learn the Service's UDP flow:\n"
                      << seeded->DebugString() << "\nagent log:\n"
                      << node_->agent().Log();
  EXPECT_NE(node_->agent().Log().find("flow table seeded with"), std::string::npos)
      << node_->agent().Log();
  EXPECT_TRUE(RoundTrip(a_->netns->name(), "udp", kServiceIp, kServiceUdpPort, a_->ip));
}

INSTANTIATE_TEST_SUITE_P(Services, ServiceNetworkTest,
                         testing::Combine(testing::ValuesIn(Backends()),
                                          testing::Values("nftables", "iptables")),
                         ParamName);

}  // namespace
}  // namespace dpcni::e2e
