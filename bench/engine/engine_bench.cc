// Measures the engine's forwarding rate between two net_null ports on one worker lcore, in both
// directions at once (as testpmd's io forwarding does with two ports), and prints it the way
// bench/engine/run.sh reads it. Two topologies:
//
//   pods    two pods, each sending to the other: parse, source checks, a /32 lookup, rewrite.
//   uplink  a pod and the uplink: the pod sends to a neighbour on the uplink network (an LPM lookup
//           of the on-link prefix, then a neighbour-table lookup for its MAC), and the neighbour
//           sends to the pod (the uplink's destination-MAC check, a /32 lookup). The neighbour is
//           resolved before the measurement starts: one pod packet makes the engine send an ARP
//           request, and the uplink then "receives" the neighbour's reply.
//   vxlan   the uplink topology with the neighbour as a remote node reached in VXLAN: the pod sends
//           to a pod of that node (routed, then encapsulated: 64 bytes in, 114 out) and the node
//           sends VXLAN to the pod (checked, decapsulated, routed: 114 bytes in, 64 out). The rate
//           of each direction is printed on its own; with --senders=pod the run measures
//           encapsulation alone, with --senders=other decapsulation alone (compare them with the
//           uplink topology's directions).
//
// net_null hands out mbufs with whatever bytes they held before, which the engine would drop. An Rx
// callback on each port therefore writes a valid 64-byte frame into every received mbuf: the same
// per-packet write that net_null's own copy mode does, but with a frame the engine routes.
//
// --idle_pods=N attaches N more pods to the same worker that never send and are never sent to: a
// net_ring port each over an empty ring of its own, as the quiet pods of a busy node. The rate then
// says what polling them costs the two busy ports.
//
// --flows says what the flow table (Services replies, flow_table.h) costs traffic that never
// touches the node's kernel: "off" runs the engine without one, "on" (the default) with an empty
// one, and "watched" makes both busy pods answer a flow the kernel forwarded (two frames injected
// through a host port before the measurement), so that every packet they send is looked up, and
// misses.
//
// Usage: engine_bench <EAL args, with two net_null vdevs> -- [--topology=pods|uplink|vxlan]
//        [--idle_pods=N] [--flows=off|on|watched] [--seconds=N] [--warmup_seconds=N]
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/engine/udp_frame.h"
#include "dataplane/engine/engine.h"

ABSL_FLAG(std::string, topology, "pods",
          "pods (pod <-> pod), uplink (pod <-> uplink neighbour) or vxlan (pod <-> remote node's "
          "pod in VXLAN)");
ABSL_FLAG(int, seconds, 10, "measured seconds (one sample per second)");
ABSL_FLAG(int, warmup_seconds, 2, "seconds forwarded before sampling starts");
ABSL_FLAG(int, burst, 32, "Rx burst size of the worker");
ABSL_FLAG(int, idle_pods, 0, "pods besides the two busy ones that never send (net_ring ports)");
ABSL_FLAG(std::string, senders, "both",
          "which busy port sends: both, pod (port 0) or other (port 1: pod B or the uplink); one "
          "direction alone measures it without the other sharing the worker's rounds");
ABSL_FLAG(std::string, flows, "on",
          "the flow table: off, on (empty), or watched (both busy pods answer a kernel flow)");

namespace dpcni::bench {
namespace {

using dataplane::EngineConfig;
using dataplane::PodEndpoint;

constexpr uint16_t kQueueSize = 1024;
constexpr uint32_t kGatewayIp = RTE_IPV4(169, 254, 1, 1);
constexpr rte_ether_addr kGatewayMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x01}};
constexpr uint32_t kPodAIp = RTE_IPV4(10, 244, 0, 10);
constexpr uint32_t kPodBIp = RTE_IPV4(10, 244, 0, 11);
constexpr rte_ether_addr kPodAMac = {{0x02, 0, 0, 0, 0, 0x0a}};
constexpr rte_ether_addr kPodBMac = {{0x02, 0, 0, 0, 0, 0x0b}};
constexpr uint32_t kNodeIp = RTE_IPV4(192, 168, 1, 2);
constexpr rte_ether_addr kUplinkMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x03}};
constexpr uint32_t kNeighbourIp = RTE_IPV4(192, 168, 1, 20);
constexpr rte_ether_addr kNeighbourMac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0x20}};
constexpr uint32_t kUnlimited = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kIdlePodsFirstIp = RTE_IPV4(10, 245, 0, 1);
constexpr unsigned kIdleRingSize = 64;  // never holds anything
constexpr rte_ether_addr kKernelMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x02}};
// The vxlan topology: the neighbour is a remote node with these pods, in this VXLAN.
constexpr uint32_t kRemotePods = RTE_IPV4(10, 244, 5, 0);  // /24
constexpr uint32_t kRemotePodIp = RTE_IPV4(10, 244, 5, 7);
constexpr uint16_t kVxlanPort = 4789;
constexpr uint32_t kVni = 1;
constexpr uint16_t kVxlanOverhead = 50;

// What an Rx callback writes into each mbuf: up to a VXLAN-wrapped 64-byte frame.
struct Frame {
  std::array<uint8_t, kFrameSize + kVxlanOverhead> bytes{};
  uint16_t length = kFrameSize;
  uint8_t* data() { return bytes.data(); }
  const uint8_t* data() const { return bytes.data(); }
};

// One net_null port and what its Rx callback makes of the mbufs it hands out.
struct BenchPort {
  uint16_t port_id = 0;
  std::atomic<const Frame*> frame{nullptr};  // written into every packet let through
  // Packets still let through (kUnlimited: all); the rest are freed. Only the callback changes a
  // non-zero budget, and the main thread only sets one that has run out.
  std::atomic<uint32_t> budget{0};
};

Frame BuildIpv4(const rte_ether_addr& src_mac, const rte_ether_addr& dst_mac, uint32_t src_ip,
                uint32_t dst_ip, uint16_t src_port = 40000, uint16_t dst_port = 5001) {
  Frame frame{};
  WriteUdpFrame(frame.data(), {.src_mac = src_mac,
                               .dst_mac = dst_mac,
                               .src_ip = src_ip,
                               .dst_ip = dst_ip,
                               .src_port = src_port,
                               .dst_port = dst_port});
  return frame;
}

// The neighbour's answer to the node's ARP request.
Frame BuildArpReply() {
  Frame frame{};
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(frame.data());
  ethernet->src_addr = kNeighbourMac;
  ethernet->dst_addr = kUplinkMac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(ethernet + 1);
  arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = sizeof(rte_be32_t);
  arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
  arp->arp_data.arp_sha = kNeighbourMac;
  arp->arp_data.arp_sip = rte_cpu_to_be_32(kNeighbourIp);
  arp->arp_data.arp_tha = kUplinkMac;
  arp->arp_data.arp_tip = rte_cpu_to_be_32(kNodeIp);
  return frame;
}

// `inner` in VXLAN from the neighbour (the remote node) to this node, as the node would send it.
Frame WrapInVxlan(const Frame& inner) {
  Frame frame{};
  frame.length = inner.length + kVxlanOverhead;
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(frame.data());
  ethernet->src_addr = kNeighbourMac;
  ethernet->dst_addr = kUplinkMac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(frame.length - sizeof(rte_ether_hdr));
  ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(kNeighbourIp);
  ip->dst_addr = rte_cpu_to_be_32(kNodeIp);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(50000);
  udp->dst_port = rte_cpu_to_be_16(kVxlanPort);
  udp->dgram_len = rte_cpu_to_be_16(frame.length - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
  auto* vxlan = reinterpret_cast<rte_vxlan_hdr*>(udp + 1);
  vxlan->vx_flags = RTE_BE32(0x08000000);
  vxlan->vx_vni = rte_cpu_to_be_32(kVni << 8);
  std::memcpy(vxlan + 1, inner.data(), inner.length);
  return frame;
}

// The Rx callback: turns what net_null handed out into this port's frame, within its budget.
uint16_t WriteFrames(uint16_t, uint16_t, rte_mbuf** packets, uint16_t count, uint16_t, void* port) {
  auto* bench = static_cast<BenchPort*>(port);
  uint32_t budget = bench->budget.load(std::memory_order_acquire);
  uint16_t pass =
      budget == kUnlimited ? count : static_cast<uint16_t>(std::min<uint32_t>(count, budget));
  if (budget != kUnlimited && pass != 0) {
    bench->budget.store(budget - pass, std::memory_order_release);
  }
  if (pass != 0) {
    const Frame& frame = *bench->frame.load(std::memory_order_acquire);
    // A copy of a length known at compile time is a few vector moves, where one of a variable
    // length is a call into libc's memcpy that cost as much as a tenth of the engine's run: the
    // usual 64-byte frame gets its own loop, so that the rate is the engine's, not the bench's.
    if (frame.length == kFrameSize) {
      for (uint16_t i = 0; i < pass; ++i) {
        std::memcpy(rte_pktmbuf_mtod(packets[i], void*), frame.data(), kFrameSize);
      }
    } else {
      for (uint16_t i = 0; i < pass; ++i) {
        std::memcpy(rte_pktmbuf_mtod(packets[i], void*), frame.data(), frame.length);
      }
    }
    for (uint16_t i = 0; i < pass; ++i) {
      packets[i]->data_len = frame.length;
      packets[i]->pkt_len = frame.length;
    }
  }
  rte_pktmbuf_free_bulk(packets + pass, count - pass);
  return pass;
}

// Lets `budget` packets of `frame` through on `port`, once its previous budget has run out.
void Feed(BenchPort& port, const Frame* frame, uint32_t budget) {
  port.frame.store(frame, std::memory_order_release);
  port.budget.store(budget, std::memory_order_release);
}

absl::Status StartPort(BenchPort& port, rte_mempool* pool) {
  const uint16_t port_id = port.port_id;
  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_configure(port_id, 1, 1, &conf); rc != 0) {
    return absl::InternalError(absl::StrCat("configuring port ", port_id, ": ", rte_strerror(-rc)));
  }
  int socket = rte_eth_dev_socket_id(port_id);
  if (int rc = rte_eth_rx_queue_setup(port_id, 0, kQueueSize, socket, nullptr, pool); rc != 0) {
    return absl::InternalError(absl::StrCat("Rx queue of port ", port_id, ": ", rte_strerror(-rc)));
  }
  if (int rc = rte_eth_tx_queue_setup(port_id, 0, kQueueSize, socket, nullptr); rc != 0) {
    return absl::InternalError(absl::StrCat("Tx queue of port ", port_id, ": ", rte_strerror(-rc)));
  }
  if (rte_eth_add_rx_callback(port_id, 0, &WriteFrames, &port) == nullptr) {
    return absl::InternalError(
        absl::StrCat("Rx callback on port ", port_id, ": ", rte_strerror(rte_errno)));
  }
  if (int rc = rte_eth_dev_start(port_id); rc != 0) {
    return absl::InternalError(absl::StrCat("starting port ", port_id, ": ", rte_strerror(-rc)));
  }
  return absl::OkStatus();
}

bool WaitFor(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

uint64_t Event(const dataplane::Engine& engine, uint16_t port_id, const std::string& event) {
  absl::StatusOr<dataplane::PortCounters> counters = engine.Counters(port_id);
  return counters.ok() && counters->events.contains(event) ? counters->events.at(event) : 0;
}

// Two pods sending to each other.
absl::Status SetUpPods(dataplane::Engine& engine, std::array<BenchPort, 2>& ports,
                       std::array<Frame, 2>& frames) {
  frames = {BuildIpv4(kPodAMac, kGatewayMac, kPodAIp, kPodBIp),
            BuildIpv4(kPodBMac, kGatewayMac, kPodBIp, kPodAIp)};
  const PodEndpoint pods[2] = {
      {.port_id = ports[0].port_id, .ip = kPodAIp, .mac = kPodAMac, .name = "bench/pod-a"},
      {.port_id = ports[1].port_id, .ip = kPodBIp, .mac = kPodBMac, .name = "bench/pod-b"}};
  for (const PodEndpoint& pod : pods) {
    if (absl::Status attached = engine.AttachPod(pod); !attached.ok()) {
      return attached;
    }
  }
  for (size_t i = 0; i < 2; ++i) {
    Feed(ports[i], &frames[i], kUnlimited);
  }
  return absl::OkStatus();
}

// A pod and the uplink, with the pod's neighbour resolved before traffic starts; with `vxlan`, the
// neighbour is a remote node reached in VXLAN.
absl::Status SetUpUplink(dataplane::Engine& engine, std::array<BenchPort, 2>& ports,
                         std::array<Frame, 2>& frames, Frame& arp_reply, bool vxlan) {
  BenchPort& pod = ports[0];
  BenchPort& uplink = ports[1];
  if (vxlan) {
    frames = {BuildIpv4(kPodAMac, kGatewayMac, kPodAIp, kRemotePodIp),
              WrapInVxlan(BuildIpv4(kNeighbourMac, kGatewayMac, kRemotePodIp, kPodAIp))};
  } else {
    frames = {BuildIpv4(kPodAMac, kGatewayMac, kPodAIp, kNeighbourIp),
              BuildIpv4(kNeighbourMac, kUplinkMac, kNeighbourIp, kPodAIp)};
  }
  arp_reply = BuildArpReply();
  if (absl::Status attached = engine.AttachPod(PodEndpoint{
          .port_id = pod.port_id, .ip = kPodAIp, .mac = kPodAMac, .name = "bench/pod-a"});
      !attached.ok()) {
    return attached;
  }
  if (absl::Status attached = engine.AttachUplink(dataplane::UplinkEndpoint{
          .port_id = uplink.port_id, .mac = kUplinkMac, .ip = kNodeIp, .prefix_length = 24});
      !attached.ok()) {
    return attached;
  }
  if (vxlan) {
    if (absl::Status set =
            engine.SetRemoteRoutes({dataplane::RemoteRoute{.prefix = kRemotePods,
                                                           .length = 24,
                                                           .node_ip = kNeighbourIp,
                                                           .mode = dataplane::RemoteMode::kVxlan,
                                                           .node = "bench-node-2"}});
        !set.ok()) {
      return set;
    }
  }
  Feed(pod, &frames[0], 1);  // makes the engine ask for the neighbour
  if (!WaitFor([&] { return Event(engine, uplink.port_id, "arp_requests") >= 1; })) {
    return absl::DeadlineExceededError("the engine sent no ARP request for the neighbour");
  }
  Feed(uplink, &arp_reply, 1);
  if (!WaitFor([&] {
        std::vector<dataplane::NeighbourInfo> neighbours = engine.Neighbours();
        return neighbours.size() == 1 && neighbours[0].state == "reachable";
      })) {
    return absl::DeadlineExceededError("the neighbour's ARP reply was not learned");
  }
  Feed(pod, &frames[0], kUnlimited);
  Feed(uplink, &frames[1], kUnlimited);
  return absl::OkStatus();
}

// Pods that never send and are never sent to: a started net_ring port each, whose one ring (Rx and
// Tx) stays empty. Closed before the engine is destroyed, as the engine asks.
class IdlePods {
 public:
  IdlePods() = default;
  IdlePods(const IdlePods&) = delete;
  IdlePods& operator=(const IdlePods&) = delete;
  ~IdlePods() { Close(); }

  void Close() {
    for (const Port& port : ports_) {
      rte_eth_dev_stop(port.port_id);
      rte_eth_dev_close(port.port_id);
      rte_ring_free(port.ring);
    }
    ports_.clear();
  }

  absl::Status Add(int count, rte_mempool* pool) {
    for (int i = 0; i < count; ++i) {
      if (absl::StatusOr<uint16_t> added = AddOne(absl::StrCat("bench_idle", i), pool);
          !added.ok()) {
        return added.status();
      }
    }
    return absl::OkStatus();
  }

  // A started port over an empty ring of its own; its id.
  absl::StatusOr<uint16_t> AddOne(const std::string& name, rte_mempool* pool) {
    rte_ring* ring = rte_ring_create(name.c_str(), kIdleRingSize, SOCKET_ID_ANY, 0);
    if (ring == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("ring ", name, ": ", rte_strerror(rte_errno)));
    }
    int port_id = rte_eth_from_ring(ring);
    if (port_id < 0) {
      rte_ring_free(ring);
      return absl::ResourceExhaustedError(
          absl::StrCat("net_ring port ", name, ": ", rte_strerror(rte_errno)));
    }
    ports_.push_back(Port{.port_id = static_cast<uint16_t>(port_id), .ring = ring});
    if (absl::Status started = Start(ports_.back().port_id, pool); !started.ok()) {
      return started;
    }
    return ports_.back().port_id;
  }
  // Puts `packet` on the Rx side of the port AddOne made last.
  bool Inject(rte_mbuf* packet) { return rte_ring_enqueue(ports_.back().ring, packet) == 0; }

  absl::Status Attach(dataplane::Engine& engine) const {
    for (size_t i = 0; i < ports_.size(); ++i) {
      const auto index = static_cast<uint32_t>(i);
      const rte_ether_addr mac = {
          {0x02, 0x01, 0, 0, static_cast<uint8_t>(index >> 8), static_cast<uint8_t>(index)}};
      const PodEndpoint pod{.port_id = ports_[i].port_id,
                            .ip = kIdlePodsFirstIp + index,
                            .mac = mac,
                            .name = absl::StrCat("bench/idle-", i)};
      if (absl::Status attached = engine.AttachPod(pod); !attached.ok()) {
        return attached;
      }
    }
    return absl::OkStatus();
  }

 private:
  struct Port {
    uint16_t port_id = 0;
    rte_ring* ring = nullptr;
  };

  static absl::Status Start(uint16_t port_id, rte_mempool* pool) {
    rte_eth_conf conf{};
    if (int rc = rte_eth_dev_configure(port_id, 1, 1, &conf); rc != 0) {
      return absl::InternalError(
          absl::StrCat("configuring idle port ", port_id, ": ", rte_strerror(-rc)));
    }
    if (int rc = rte_eth_rx_queue_setup(port_id, 0, kIdleRingSize, SOCKET_ID_ANY, nullptr, pool);
        rc != 0) {
      return absl::InternalError(
          absl::StrCat("Rx queue of idle port ", port_id, ": ", rte_strerror(-rc)));
    }
    if (int rc = rte_eth_tx_queue_setup(port_id, 0, kIdleRingSize, SOCKET_ID_ANY, nullptr);
        rc != 0) {
      return absl::InternalError(
          absl::StrCat("Tx queue of idle port ", port_id, ": ", rte_strerror(-rc)));
    }
    if (int rc = rte_eth_dev_start(port_id); rc != 0) {
      return absl::InternalError(
          absl::StrCat("starting idle port ", port_id, ": ", rte_strerror(-rc)));
    }
    return absl::OkStatus();
  }

  std::vector<Port> ports_;
};

// Makes both pods answer a flow the node's kernel forwarded: a host port (a net_ring port of
// `ports`, attached after the idle pods) carries one frame to each pod from the other, on ports the
// measured traffic does not use, and the engine keeps their reply 5-tuples.
absl::Status WatchBothPods(dataplane::Engine& engine, IdlePods& ports, rte_mempool* pool,
                           std::array<Frame, 2>& forwarded) {
  absl::StatusOr<uint16_t> host = ports.AddOne("bench_host", pool);
  if (!host.ok()) {
    return host.status();
  }
  if (absl::Status attached = engine.AttachHostPort(
          dataplane::HostEndpoint{.port_id = *host, .kernel_mac = kKernelMac});
      !attached.ok()) {
    return attached;
  }
  forwarded = {BuildIpv4(kKernelMac, kGatewayMac, kPodAIp, kPodBIp, 1111, 2222),
               BuildIpv4(kKernelMac, kGatewayMac, kPodBIp, kPodAIp, 3333, 4444)};
  for (const Frame& frame : forwarded) {
    rte_mbuf* packet = rte_pktmbuf_alloc(pool);
    if (packet == nullptr || rte_pktmbuf_append(packet, kFrameSize) == nullptr) {
      return absl::ResourceExhaustedError("no mbuf for a forwarded frame");
    }
    std::memcpy(rte_pktmbuf_mtod(packet, void*), frame.data(), kFrameSize);
    if (!ports.Inject(packet)) {
      rte_pktmbuf_free(packet);
      return absl::ResourceExhaustedError("the host port's ring is full");
    }
  }
  if (!WaitFor([&] { return engine.FlowStats().entries == 2; })) {
    return absl::DeadlineExceededError("the engine kept no flow for the forwarded frames");
  }
  return absl::OkStatus();
}

uint64_t TransmittedPackets(const dataplane::Engine& engine,
                            const std::array<BenchPort, 2>& ports) {
  uint64_t total = 0;
  for (const BenchPort& port : ports) {
    total += engine.Counters(port.port_id)->tx_packets;
  }
  return total;
}

absl::Status Run() {
  const std::string topology = absl::GetFlag(FLAGS_topology);
  if (topology != "pods" && topology != "uplink" && topology != "vxlan") {
    return absl::InvalidArgumentError(absl::StrCat("unknown topology ", topology));
  }
  const int idle_pods = absl::GetFlag(FLAGS_idle_pods);
  const std::string flows = absl::GetFlag(FLAGS_flows);
  const std::string senders = absl::GetFlag(FLAGS_senders);
  if (senders != "both" && senders != "pod" && senders != "other") {
    return absl::InvalidArgumentError(absl::StrCat("--senders=", senders, ": both, pod or other"));
  }
  if (flows != "off" && flows != "on" && flows != "watched") {
    return absl::InvalidArgumentError(absl::StrCat("--flows=", flows, ": off, on or watched"));
  }
  if (flows == "watched" && topology != "pods") {
    return absl::InvalidArgumentError("--flows=watched needs --topology=pods");
  }
  if (idle_pods < 0 || idle_pods > RTE_MAX_ETHPORTS - 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("--idle_pods=", idle_pods, " outside 0..", RTE_MAX_ETHPORTS - 2,
                     " (RTE_MAX_ETHPORTS of this DPDK build, less the two busy ports)"));
  }
  if (rte_eth_dev_count_avail() != 2) {
    return absl::FailedPreconditionError(
        "expected exactly two ports (--vdev net_null0 --vdev net_null1)");
  }
  unsigned worker_lcore = rte_get_next_lcore(-1, /*skip_main=*/1, /*wrap=*/0);
  if (worker_lcore >= RTE_MAX_LCORE) {
    return absl::FailedPreconditionError("no worker lcore: give EAL two lcores (-l 0,1)");
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("bench_pool", 32767, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("mbuf pool: ", rte_strerror(rte_errno)));
  }

  std::array<BenchPort, 2> ports;
  ports[0].port_id = 0;
  ports[1].port_id = 1;
  std::array<Frame, 2> frames;
  Frame arp_reply;
  EngineConfig config{.worker_lcores = {worker_lcore},
                      .max_ports = static_cast<uint32_t>(2 + idle_pods),
                      .burst_size = static_cast<uint16_t>(absl::GetFlag(FLAGS_burst)),
                      .idle_sleep_max = std::chrono::microseconds(0),  // busy-poll, as testpmd does
                      .gateway_ip = kGatewayIp,
                      .gateway_mac = kGatewayMac,
                      .vxlan = dataplane::VxlanConfig{.udp_port = kVxlanPort, .vni = kVni}};
  if (flows == "off") {
    config.flows.capacity = 0;
  }
  // The watched flows outlast the run: unanswered UDP would otherwise go after 30 s.
  config.flows.timeouts.udp = std::chrono::hours(1);
  absl::StatusOr<std::unique_ptr<dataplane::Engine>> engine = dataplane::CreateEngine(config);
  if (!engine.ok()) {
    return engine.status();
  }
  for (BenchPort& port : ports) {
    if (absl::Status started = StartPort(port, pool); !started.ok()) {
      return started;
    }
  }
  IdlePods idle;
  if (absl::Status added = idle.Add(idle_pods, pool); !added.ok()) {
    return added;
  }
  if (absl::Status started = (*engine)->Start(); !started.ok()) {
    return started;
  }
  // The quiet pods came first, as on a node where the busy ones are the newest.
  if (absl::Status attached = idle.Attach(**engine); !attached.ok()) {
    return attached;
  }
  std::array<Frame, 2> forwarded;
  absl::Status set_up = topology == "pods"
                            ? SetUpPods(**engine, ports, frames)
                            : SetUpUplink(**engine, ports, frames, arp_reply, topology == "vxlan");
  if (set_up.ok() && flows == "watched") {
    set_up = WatchBothPods(**engine, idle, pool, forwarded);
  }
  if (!set_up.ok()) {
    return set_up;
  }
  // Silences one direction: a budget of zero lets nothing through.
  if (senders == "pod") {
    Feed(ports[1], &frames[1], 0);
  } else if (senders == "other") {
    Feed(ports[0], &frames[0], 0);
  }
  std::printf(
      "engine: %s, senders %s, worker lcore %u, burst %d, 2 net_null ports and %d idle pods, flow "
      "table %s, 64-byte IPv4/UDP frames (114 bytes in VXLAN)\n",
      topology.c_str(), senders.c_str(), worker_lcore, absl::GetFlag(FLAGS_burst), idle_pods,
      flows.c_str());

  std::this_thread::sleep_for(std::chrono::seconds(absl::GetFlag(FLAGS_warmup_seconds)));
  std::vector<double> mpps;
  // Per egress port too: in the vxlan topology, the uplink's is the encapsulation rate and the
  // pod's the decapsulation rate.
  std::array<std::vector<double>, 2> port_mpps;
  uint64_t previous = TransmittedPackets(**engine, ports);
  std::array<uint64_t, 2> previous_port{};
  for (size_t i = 0; i < 2; ++i) {
    previous_port[i] = (*engine)->Counters(ports[i].port_id)->tx_packets;
  }
  auto previous_time = std::chrono::steady_clock::now();
  for (int second = 0; second < absl::GetFlag(FLAGS_seconds); ++second) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    uint64_t now_packets = TransmittedPackets(**engine, ports);
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - previous_time).count();
    mpps.push_back(static_cast<double>(now_packets - previous) / elapsed / 1e6);
    for (size_t i = 0; i < 2; ++i) {
      const uint64_t port_packets = (*engine)->Counters(ports[i].port_id)->tx_packets;
      port_mpps[i].push_back(static_cast<double>(port_packets - previous_port[i]) / elapsed / 1e6);
      previous_port[i] = port_packets;
    }
    std::printf("sample %d: %.2f Mpps (port 0 sent %.2f, port 1 sent %.2f)\n", second, mpps.back(),
                port_mpps[0].back(), port_mpps[1].back());
    previous = now_packets;
    previous_time = now;
  }
  (*engine)->Stop();

  for (const BenchPort& port : ports) {
    absl::StatusOr<dataplane::PortCounters> counters = (*engine)->Counters(port.port_id);
    std::printf("port %u: rx %lu tx %lu", port.port_id, counters->rx_packets, counters->tx_packets);
    for (const auto& [reason, dropped] : counters->drops) {
      std::printf(" drop[%s] %lu", reason.c_str(), dropped);
    }
    for (const auto& [event, seen] : counters->events) {
      std::printf(" %s %lu", event.c_str(), seen);
    }
    std::printf("\n");
    rte_eth_dev_stop(port.port_id);
    rte_eth_dev_close(port.port_id);
  }
  idle.Close();
  // The order the engine asks for: stopped, its ports closed, then destroyed.
  engine->reset();
  std::sort(mpps.begin(), mpps.end());
  for (std::vector<double>& samples : port_mpps) {
    std::sort(samples.begin(), samples.end());
  }
  std::printf("median by sender: port 0 (pod) %.2f Mpps, port 1 %.2f Mpps\n",
              port_mpps[0][port_mpps[0].size() / 2], port_mpps[1][port_mpps[1].size() / 2]);
  std::printf("median: %.2f Mpps (min %.2f, max %.2f, %zu samples)\n", mpps[mpps.size() / 2],
              mpps.front(), mpps.back(), mpps.size());
  return absl::OkStatus();
}

}  // namespace
}  // namespace dpcni::bench

int main(int argc, char** argv) {
  int eal_args = rte_eal_init(argc, argv);
  if (eal_args < 0) {
    std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  argv[eal_args] = argv[0];
  absl::ParseCommandLine(argc - eal_args, argv + eal_args);
  absl::Status status = dpcni::bench::Run();
  rte_eal_cleanup();
  if (!status.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
