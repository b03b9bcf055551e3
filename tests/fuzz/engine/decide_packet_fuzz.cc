// libFuzzer target: the engine's per-packet path on arbitrary frames, as a worker runs it
// (worker.cc, ProcessBurst): DecidePacket, then for what it routes the egress preparation
// (PrepareForEgress) or VXLAN encapsulation (VxlanSourcePort, EncapsulateVxlan), the kernel flow of
// a packet from the host port (KernelFlowOf), the answer to an uplink ARP (AnswerNodeArp) and the
// ICMP error for a drop that earns one (BuildIcmpError). The routes are those of a node with two
// pods, a host port, an uplink with a router, and a remote node in VXLAN.
//
// An input is kControlBytes that say how the frame arrives (ingress port, Rx offload flags, GSO
// size, a second segment, the egress ports' offloads), then the frame. The frame lies in a heap
// buffer of exactly its size attached to the mbuf as an external buffer: DPDK's own mempools are
// invisible to ASan, so a read past the frame in a pool mbuf would go unnoticed; here it is a
// heap-buffer-overflow. One control bit puts it in an ordinary pool mbuf instead, with headroom,
// for the paths that only such a buffer takes (VXLAN headers prepended in place).
//
// Each frame also goes through RouteBurst, as copies in a burst of kBurstCopies, which must agree
// with DecidePacket on it: a copy it routes is DecidePacket's kForward to the same next hop, byte
// for byte, and a copy it leaves is as it came.
//
// Beyond "no crash", each input checks what the engine promises (packet_path.h, offload.h): a
// verdict in range; a routed packet with its lengths set inside the frame, its source MAC written
// and a header checksum still valid after the TTL decrement; the inner packet of VXLAN going only
// to a pod or the kernel; an mbuf chain consistent after every step (rte_mbuf_check); a GSO segment
// never over the egress MTU; complete checksums where the egress port offloads none; ICMP errors
// and VXLAN headers with valid checksums and lengths; and no mbuf left out of its pool afterwards.
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_gso.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_lpm.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_tcp.h>
#include <rte_udp.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/icmp_error.h"
#include "dataplane/engine/neighbour_table.h"
#include "dataplane/engine/next_hop_table.h"
#include "dataplane/engine/offload.h"
#include "dataplane/engine/packet_path.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_eal.h"

namespace dpcni::dataplane {
namespace {

// The node, as the engine tests know it (tests/dataplane/engine/test_packets.h): pods 10.244.0.10
// and .11 behind gateway 169.254.1.1, the uplink 192.168.1.2/24 with router .254, and a remote
// node .30 whose pods 10.244.1.0/24 are reached in VXLAN (port 4789, VNI 1).
constexpr uint16_t kPortA = 3;
constexpr uint16_t kPortB = 5;
constexpr uint16_t kHostPort = 7;
constexpr uint16_t kUplinkPort = 8;
constexpr uint32_t kPodAIp = RTE_IPV4(10, 244, 0, 10);
constexpr uint32_t kPodBIp = RTE_IPV4(10, 244, 0, 11);
constexpr uint32_t kPodCidr = RTE_IPV4(10, 244, 0, 0);
constexpr uint32_t kGatewayIp = RTE_IPV4(169, 254, 1, 1);
constexpr uint32_t kNodeIp = RTE_IPV4(192, 168, 1, 2);
constexpr uint32_t kRouterIp = RTE_IPV4(192, 168, 1, 254);
constexpr uint32_t kRemoteNodeIp = RTE_IPV4(192, 168, 1, 30);
constexpr uint32_t kRemotePodCidr = RTE_IPV4(10, 244, 1, 0);
constexpr uint32_t kRemotePrefix = RTE_IPV4(10, 50, 0, 0);
constexpr uint16_t kVxlanPort = 4789;
constexpr rte_ether_addr kPodAMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
constexpr rte_ether_addr kPodBMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};
constexpr rte_ether_addr kGatewayMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x01}};
constexpr rte_ether_addr kKernelMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x02}};
constexpr rte_ether_addr kUplinkMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x03}};
constexpr rte_ether_addr kRouterMac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0xfe}};
constexpr rte_ether_addr kRemoteNodeMac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0x30}};

// A flow the kernel forwarded to pod B (a Service's DNAT): pod B's replies go back to the kernel.
constexpr uint32_t kClientIp = RTE_IPV4(192, 168, 1, 20);
constexpr uint16_t kClientPort = 40000;
constexpr uint16_t kServicePort = 8080;

constexpr uint16_t kMaxSegments = 128;  // worker.cc's kMaxGsoSegments
// Copies of the frame RouteBurst gets at once: a group of four lookups and one left over.
constexpr uint16_t kBurstCopies = 5;
constexpr uint64_t kNow = 2;

// The control bytes in front of the frame.
constexpr size_t kControlBytes = 5;
struct Control {
  uint8_t ingress = 0;       // byte 0 bits 0-1: pod A, the host port, the uplink, pod B
  bool pool_buffer = false;  // byte 0 bit 2: an ordinary pool mbuf instead of a heap buffer
  uint64_t ol_flags =
      0;             // byte 0 bits 3-7, byte 1 bit 0: RSS hash, IP and L4 checksum verdicts, LRO
  uint8_t caps = 0;  // byte 1 bits 1-4: the egress offloads (EgressCapsFor)
  uint16_t tso_segsz = 0;  // bytes 2-3, little-endian
  uint8_t split = 0;       // byte 4: where a second segment starts (0: one segment)
};

Control ReadControl(const uint8_t* data) {
  static constexpr uint64_t kIpChecksum[] = {
      RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN, RTE_MBUF_F_RX_IP_CKSUM_BAD, RTE_MBUF_F_RX_IP_CKSUM_GOOD,
      RTE_MBUF_F_RX_IP_CKSUM_NONE};
  static constexpr uint64_t kL4Checksum[] = {
      RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN, RTE_MBUF_F_RX_L4_CKSUM_BAD, RTE_MBUF_F_RX_L4_CKSUM_GOOD,
      RTE_MBUF_F_RX_L4_CKSUM_NONE};
  Control control;
  control.ingress = data[0] & 3;
  control.pool_buffer = (data[0] & 4) != 0;
  if ((data[0] & 8) != 0) control.ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
  control.ol_flags |= kIpChecksum[(data[0] >> 4) & 3];
  control.ol_flags |= kL4Checksum[(data[0] >> 6) & 3];
  if ((data[1] & 1) != 0) control.ol_flags |= RTE_MBUF_F_RX_LRO;
  control.caps = static_cast<uint8_t>((data[1] >> 1) & 0xf);
  control.tso_segsz = static_cast<uint16_t>(data[2] | data[3] << 8);
  control.split = data[4];
  return control;
}

// Four bits: TSO, IPv4 checksum, TCP checksum, UDP checksum on every egress port but the VXLAN
// next hop, which never offloads (next_hop_table.h).
EgressCaps EgressCapsFor(uint8_t bits, uint16_t mtu) {
  return EgressCaps{.tcp_segmentation = (bits & 1) != 0,
                    .ipv4_checksum = (bits & 2) != 0,
                    .tcp_checksum = (bits & 4) != 0,
                    .udp_checksum = (bits & 8) != 0,
                    .mtu = mtu};
}

struct Pools {
  rte_mempool* packets = nullptr;  // frames in pool buffers
  rte_mempool* shells = nullptr;   // mbufs without a data room, for heap buffers
  rte_mempool* headers = nullptr;  // EncapsulateVxlan's header segments, GSO's direct segments
  rte_mempool* indirect = nullptr;
  rte_mempool* icmp = nullptr;
};

// Everything DecidePacket reads, built once.
struct Node {
  Pools pools;
  rte_lpm* lpm = nullptr;
  rte_rcu_qsbr* rcu = nullptr;
  std::unique_ptr<NeighbourTable> neighbours;
  std::unique_ptr<FlowTable> flows;
  std::array<NextHop, 8> next_hops{};
  std::array<uint16_t, 8> base_mtu{};
  uint32_t next_hop_count = 0;
  std::atomic<uint32_t> default_next_hop{kNoNextHop};
  std::atomic<uint32_t> kernel_next_hop{kNoNextHop};
  VxlanNodes vxlan_nodes;
  std::atomic<const VxlanNodes*> vxlan_nodes_view{nullptr};
  UplinkSourceFilter uplink_filter;
  RoutingView routing;
  rte_gso_ctx gso{};
  std::array<IngressPort, 4> ingress{};
  KernelFlow service_flow{};
};

rte_mempool* MakePool(const char* name, unsigned size, uint16_t data_room) {
  rte_mempool* pool = rte_pktmbuf_pool_create(name, size, 0, 0, data_room, SOCKET_ID_ANY);
  FUZZ_CHECK(pool != nullptr, "rte_pktmbuf_pool_create %s: %s", name, rte_strerror(rte_errno));
  return pool;
}

uint32_t AddRoute(Node& node, uint32_t prefix, uint8_t length, const NextHop& hop) {
  const uint32_t id = node.next_hop_count++;
  FUZZ_CHECK(id < node.next_hops.size(), "too many next hops");
  node.next_hops[id] = hop;
  node.base_mtu[id] = hop.caps.mtu;
  if (length == 0) {
    node.default_next_hop = id;
  } else if (length <= 32) {
    FUZZ_CHECK(rte_lpm_add(node.lpm, prefix, length, id) == 0, "rte_lpm_add");
  }
  return id;
}

// The routes ForwardingEngine sets up with both pods, a host port, an uplink and a VXLAN node (as
// tests/dataplane/engine/packet_path_test.cc does).
Node* MakeNode() {
  auto* node = new Node();
  node->pools.packets = MakePool("fuzz_packets", 511, RTE_MBUF_DEFAULT_BUF_SIZE);
  node->pools.shells = MakePool("fuzz_shells", 511, 0);
  node->pools.headers = MakePool("fuzz_headers", 1023, RTE_MBUF_DEFAULT_BUF_SIZE);
  node->pools.indirect = MakePool("fuzz_indirect", 1023, 0);
  node->pools.icmp = MakePool("fuzz_icmp", 63, RTE_MBUF_DEFAULT_BUF_SIZE);
  rte_lpm_config config{.max_rules = 16, .number_tbl8s = 16, .flags = 0};
  node->lpm = rte_lpm_create("fuzz_lpm", SOCKET_ID_ANY, &config);
  FUZZ_CHECK(node->lpm != nullptr, "rte_lpm_create: %s", rte_strerror(rte_errno));
  node->rcu = static_cast<rte_rcu_qsbr*>(
      rte_zmalloc("fuzz_rcu", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
  FUZZ_CHECK(node->rcu != nullptr && rte_rcu_qsbr_init(node->rcu, 1) == 0, "rte_rcu_qsbr_init");
  auto neighbours = NeighbourTable::Create("fuzz_neigh", 8, node->rcu);
  FUZZ_CHECK(neighbours.ok(), "NeighbourTable::Create: %s", neighbours.status().ToString().c_str());
  node->neighbours = std::move(*neighbours);
  auto flows = FlowTable::Create("fuzz_flows", FlowTableConfig{.capacity = 16}, 1, node->rcu);
  FUZZ_CHECK(flows.ok(), "FlowTable::Create: %s", flows.status().ToString().c_str());
  node->flows = std::move(*flows);

  const auto be32 = [](uint32_t value) { return rte_cpu_to_be_32(value); };
  const uint8_t all = RoleMask(PortRole::kPod, PortRole::kHost, PortRole::kUplink);
  const NextHop to_host{.port_id = kHostPort,
                        .allowed_ingress = RoleMask(PortRole::kPod),
                        .dst_mac = kKernelMac,
                        .src_mac = kGatewayMac};
  NextHop to_node = to_host;
  to_node.kind = NextHopKind::kLocal;
  to_node.allowed_ingress = RoleMask(PortRole::kPod, PortRole::kUplink);
  const NextHop on_link{.port_id = kUplinkPort,
                        .kind = NextHopKind::kNeighbour,
                        .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost),
                        .src_mac = kUplinkMac,
                        .caps = EgressCaps{.mtu = 1500}};
  NextHop via_router = on_link;
  via_router.via = be32(kRouterIp);
  const NextHop vxlan{.port_id = kUplinkPort,
                      .kind = NextHopKind::kVxlan,
                      .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost),
                      .via = be32(kRemoteNodeIp),
                      .tunnel_source = be32(kNodeIp),
                      .tunnel_destination = be32(kRemoteNodeIp),
                      .dst_mac = {{0x02, 0xdc, 0x00, 0x00, 0x01, 0x01}},
                      .src_mac = kGatewayMac,
                      .outer_src_mac = kUplinkMac,
                      .caps = EgressCaps{.mtu = 1450}};
  AddRoute(*node, kPodAIp, 32,
           NextHop{.port_id = kPortA,
                   .allowed_ingress = all,
                   .dst_mac = kPodAMac,
                   .src_mac = kGatewayMac,
                   .caps = EgressCaps{.mtu = 1500}});
  AddRoute(*node, kPodBIp, 32,
           NextHop{.port_id = kPortB,
                   .allowed_ingress = all,
                   .dst_mac = kPodBMac,
                   .src_mac = kGatewayMac,
                   .caps = EgressCaps{.mtu = 9000}});
  AddRoute(*node, 0, 0, to_host);
  AddRoute(*node, kNodeIp, 32, to_node);
  AddRoute(*node, kNodeIp & 0xffffff00, 24, on_link);
  AddRoute(*node, kRemotePrefix, 16, via_router);
  AddRoute(*node, kRemotePodCidr, 24, vxlan);
  NextHop to_kernel = to_host;
  to_kernel.allowed_ingress = RoleMask(PortRole::kPod, PortRole::kUplink);
  node->kernel_next_hop = AddRoute(*node, 0, 33, to_kernel);  // no route: the kernel's way back

  // The router and the remote node are resolved; other uplink neighbours are not.
  for (const auto& [ip, mac] :
       {std::pair{kRouterIp, kRouterMac}, {kRemoteNodeIp, kRemoteNodeMac}}) {
    auto position = node->neighbours->Add(be32(ip), /*now=*/1);
    FUZZ_CHECK(position.ok(), "NeighbourTable::Add");
    node->neighbours->Confirm(*position, mac, /*now=*/1);
  }
  node->vxlan_nodes.addresses = {be32(kRemoteNodeIp)};
  node->vxlan_nodes_view = &node->vxlan_nodes;
  node->uplink_filter.prefixes[0] = {.network = be32(kPodCidr), .mask = be32(0xffffff00)};
  node->uplink_filter.prefixes[1] = {.network = be32(kGatewayIp), .mask = be32(0xffffffff)};
  node->uplink_filter.count = 2;

  node->routing = RoutingView{.lpm = node->lpm,
                              .default_next_hop = &node->default_next_hop,
                              .next_hops = node->next_hops.data(),
                              .neighbours = node->neighbours.get(),
                              .gateway_ip = be32(kGatewayIp),
                              .gateway_mac = kGatewayMac,
                              .flows = node->flows.get(),
                              .kernel_next_hop = &node->kernel_next_hop,
                              .vxlan_port = rte_cpu_to_be_16(kVxlanPort),
                              .vxlan_vni_word = be32(1 << 8),
                              .vxlan_nodes = &node->vxlan_nodes_view,
                              .uplink_denied_sources = &node->uplink_filter};
  node->gso.direct_pool = node->pools.headers;
  node->gso.indirect_pool = node->pools.indirect;
  node->gso.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
  node->ingress = {
      IngressPort{.port_id = kPortA, .role = PortRole::kPod, .ip = be32(kPodAIp), .mac = kPodAMac},
      IngressPort{.port_id = kHostPort, .role = PortRole::kHost, .mac = kKernelMac},
      IngressPort{.port_id = kUplinkPort,
                  .role = PortRole::kUplink,
                  .ip = be32(kNodeIp),
                  .mac = kUplinkMac},
      IngressPort{.port_id = kPortB, .role = PortRole::kPod, .ip = be32(kPodBIp), .mac = kPodBMac}};
  node->service_flow =
      KernelFlow{.reply = FlowKey{.source = be32(kPodBIp),
                                  .destination = be32(kClientIp),
                                  .source_port = rte_cpu_to_be_16(kServicePort),
                                  .destination_port = rte_cpu_to_be_16(kClientPort),
                                  .protocol = IPPROTO_TCP},
                 .reply_port = kPortB,
                 .tcp_flags = kTcpAck};
  return node;
}

Node& TheNode() {
  static Node* node = MakeNode();
  return *node;
}

// A heap buffer of exactly `length` bytes as an mbuf's external buffer; freed with the mbuf.
void FreeHeapBuffer(void* buffer, void* shared_info) {
  std::free(buffer);
  delete static_cast<rte_mbuf_ext_shared_info*>(shared_info);
}

rte_mbuf* HeapSegment(rte_mempool* shells, const uint8_t* bytes, uint16_t length) {
  rte_mbuf* segment = rte_pktmbuf_alloc(shells);
  FUZZ_CHECK(segment != nullptr, "the shell pool is empty: an mbuf leaked");
  // malloc(0) may return nullptr; one byte keeps the buffer real without making room to read.
  auto* buffer = static_cast<uint8_t*>(std::malloc(length == 0 ? 1 : length));
  std::memcpy(buffer, bytes, length);
  auto* shared_info = new rte_mbuf_ext_shared_info{};
  shared_info->free_cb = FreeHeapBuffer;
  shared_info->fcb_opaque = shared_info;
  rte_mbuf_ext_refcnt_set(shared_info, 1);
  rte_pktmbuf_attach_extbuf(segment, buffer,
                            static_cast<rte_iova_t>(reinterpret_cast<uintptr_t>(buffer)), length,
                            shared_info);
  segment->data_off = 0;
  segment->data_len = length;
  segment->pkt_len = length;
  return segment;
}

rte_mbuf* PoolSegment(rte_mempool* pool, const uint8_t* bytes, uint16_t length) {
  rte_mbuf* segment = rte_pktmbuf_alloc(pool);
  FUZZ_CHECK(segment != nullptr, "the packet pool is empty: an mbuf leaked");
  char* room = rte_pktmbuf_append(segment, length);
  FUZZ_CHECK(room != nullptr || length == 0, "frame longer than a pool buffer");
  if (length != 0) std::memcpy(room, bytes, length);
  return segment;
}

// The frame as a driver would hand it over: one or two segments, with the control's Rx metadata.
rte_mbuf* Receive(Node& node, const Control& control, const uint8_t* frame, size_t length) {
  const auto segment = [&](const uint8_t* bytes, size_t size) {
    return control.pool_buffer ? PoolSegment(node.pools.packets, bytes, static_cast<uint16_t>(size))
                               : HeapSegment(node.pools.shells, bytes, static_cast<uint16_t>(size));
  };
  const size_t first_length = control.split != 0 && control.split < length ? control.split : length;
  rte_mbuf* packet = segment(frame, first_length);
  if (first_length < length) {
    rte_mbuf* rest = segment(frame + first_length, length - first_length);
    FUZZ_CHECK(rte_pktmbuf_chain(packet, rest) == 0, "rte_pktmbuf_chain");
  }
  packet->ol_flags |= control.ol_flags;
  packet->hash.rss = static_cast<uint32_t>(control.tso_segsz) * 2654435761u;
  packet->tso_segsz = control.tso_segsz;
  packet->port = node.ingress[control.ingress].port_id;
  return packet;
}

void CheckMbuf(const rte_mbuf* packet, const char* step) {
  const char* reason = nullptr;
  FUZZ_CHECK(rte_mbuf_check(packet, 1, &reason) == 0, "%s left an inconsistent mbuf: %s", step,
             reason);
}

// The IPv4 header at the packet's l2_len, whole in the first segment.
const rte_ipv4_hdr* Ipv4At(const rte_mbuf* packet, uint32_t offset) {
  FUZZ_CHECK(packet->data_len >= offset + sizeof(rte_ipv4_hdr), "IPv4 header beyond the segment");
  const auto* ip = rte_pktmbuf_mtod_offset(packet, const rte_ipv4_hdr*, offset);
  FUZZ_CHECK(packet->data_len >= offset + rte_ipv4_hdr_len(ip), "IPv4 options beyond the segment");
  return ip;
}

bool HeaderChecksumValid(const rte_ipv4_hdr* ip) { return rte_ipv4_cksum(ip) == 0; }

bool IsFragment(const rte_ipv4_hdr* ip) {
  return (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
}

// What PrepareForEgress promises for its output packets (offload.h).
// False when it refused the packet, which is then still the caller's (in `out`, to free).
bool CheckPrepared(Node& node, rte_mbuf* packet, const EgressCaps& caps, bool ip_checksum_was_valid,
                   bool gso_packet, std::vector<rte_mbuf*>* out) {
  const auto* ip = Ipv4At(packet, packet->l2_len);
  const bool fragment = IsFragment(ip);
  const uint8_t protocol = ip->next_proto_id;
  std::array<rte_mbuf*, kMaxSegments> egress{};
  EgressPackets prepared = PrepareForEgress(packet, caps, node.gso, egress.data(), kMaxSegments);
  if (prepared.count == 0) {
    FUZZ_CHECK(prepared.drop_reason < DropReason::kCount, "drop reason out of range");
    CheckMbuf(packet, "a failed PrepareForEgress");
    out->push_back(packet);  // still the caller's
    return false;
  }
  FUZZ_CHECK(prepared.count <= kMaxSegments, "%u packets for %u places", prepared.count,
             kMaxSegments);
  const bool computes_checksums =
      !caps.tcp_segmentation && !caps.tcp_checksum && !caps.udp_checksum;
  for (uint16_t i = 0; i < prepared.count; ++i) {
    rte_mbuf* segment = egress[i];
    CheckMbuf(segment, "PrepareForEgress");
    out->push_back(segment);
    const auto* segment_ip = Ipv4At(segment, segment->l2_len);
    if (prepared.count > 1) {
      FUZZ_CHECK(gso_packet && protocol == IPPROTO_TCP, "segments of a packet that is no TCP GSO");
      FUZZ_CHECK(rte_be_to_cpu_16(segment_ip->total_length) <= caps.mtu,
                 "a GSO segment of %u bytes for an MTU of %u",
                 rte_be_to_cpu_16(segment_ip->total_length), caps.mtu);
      FUZZ_CHECK(caps.ipv4_checksum || HeaderChecksumValid(segment_ip),
                 "a GSO segment left with a wrong IPv4 checksum");
    }
    if (fragment || !computes_checksums || (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)) {
      continue;
    }
    // Nothing offloaded: every checksum complete, as a port without offloads must get it.
    if (prepared.count == 1 && ip_checksum_was_valid) {
      FUZZ_CHECK(caps.ipv4_checksum || HeaderChecksumValid(segment_ip),
                 "PrepareForEgress broke a valid IPv4 checksum");
    }
    if (rte_be_to_cpu_16(segment_ip->total_length) + segment->l2_len <= segment->pkt_len) {
      FUZZ_CHECK(rte_ipv4_udptcp_cksum_mbuf_verify(segment, segment_ip,
                                                   segment->l2_len + segment->l3_len) == 0,
                 "a %s packet left for a port without checksum offloads with a wrong checksum",
                 protocol == IPPROTO_TCP ? "TCP" : "UDP");
    }
  }
  return true;
}

// The outer headers EncapsulateVxlan wrote (packet_path.h).
void CheckVxlan(const Node& node, const rte_mbuf* outer, uint32_t inner_length) {
  CheckMbuf(outer, "EncapsulateVxlan");
  FUZZ_CHECK(outer->pkt_len == inner_length + kVxlanOverhead, "VXLAN frame of %u bytes for %u",
             outer->pkt_len, inner_length);
  const auto* ip = Ipv4At(outer, sizeof(rte_ether_hdr));
  FUZZ_CHECK(HeaderChecksumValid(ip), "outer IPv4 checksum wrong");
  FUZZ_CHECK(rte_be_to_cpu_16(ip->total_length) == outer->pkt_len - sizeof(rte_ether_hdr),
             "outer IPv4 length %u for a %u-byte frame", rte_be_to_cpu_16(ip->total_length),
             outer->pkt_len);
  const auto* udp = rte_pktmbuf_mtod_offset(outer, const rte_udp_hdr*,
                                            sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr));
  FUZZ_CHECK(udp->dst_port == node.routing.vxlan_port, "outer UDP port");
  FUZZ_CHECK(
      rte_be_to_cpu_16(udp->dgram_len) == rte_be_to_cpu_16(ip->total_length) - sizeof(rte_ipv4_hdr),
      "outer UDP length");
}

// The ICMP error BuildIcmpError made about `offending` (icmp_error.h).
void CheckIcmpError(const rte_mbuf* offending, const rte_mbuf* reply) {
  CheckMbuf(reply, "BuildIcmpError");
  FUZZ_CHECK(reply->nb_segs == 1 && reply->pkt_len <= kIcmpErrorMaxFrame,
             "ICMP error of %u bytes in %u segments", reply->pkt_len, reply->nb_segs);
  const auto* ethernet = rte_pktmbuf_mtod(reply, const rte_ether_hdr*);
  const auto* offending_ethernet = rte_pktmbuf_mtod(offending, const rte_ether_hdr*);
  FUZZ_CHECK(rte_is_same_ether_addr(&ethernet->dst_addr, &offending_ethernet->src_addr),
             "ICMP error not sent to the frame's source");
  const auto* ip = Ipv4At(reply, sizeof(rte_ether_hdr));
  FUZZ_CHECK(HeaderChecksumValid(ip), "ICMP error's IPv4 checksum wrong");
  const uint32_t icmp_offset = sizeof(rte_ether_hdr) + rte_ipv4_hdr_len(ip);
  const uint32_t icmp_length = rte_be_to_cpu_16(ip->total_length) - rte_ipv4_hdr_len(ip);
  FUZZ_CHECK(icmp_offset + icmp_length == reply->pkt_len, "ICMP error length");
  const uint16_t sum =
      rte_raw_cksum(rte_pktmbuf_mtod_offset(reply, const void*, icmp_offset), icmp_length);
  FUZZ_CHECK(sum == 0xffff, "ICMP error's checksum wrong");
}

// The packet's bytes, across its segments.
std::vector<uint8_t> Bytes(const rte_mbuf* packet) {
  std::vector<uint8_t> bytes(packet->pkt_len);
  if (bytes.empty()) return bytes;
  const void* read = rte_pktmbuf_read(packet, 0, packet->pkt_len, bytes.data());
  FUZZ_CHECK(read != nullptr, "an mbuf chain shorter than its pkt_len");
  if (read != bytes.data()) std::memcpy(bytes.data(), read, bytes.size());
  return bytes;
}

// RouteBurst took `copies` (as received) before DecidePacket gave `verdict` for `packet`.
void CheckRouteBurst(const std::array<rte_mbuf*, kBurstCopies>& copies,
                     const std::array<const NextHop*, kMaxBurstSize>& routed,
                     const std::vector<uint8_t>& received, const rte_mbuf* packet,
                     const Verdict& verdict) {
  for (uint16_t i = 0; i < kBurstCopies; ++i) {
    CheckMbuf(copies[i], "RouteBurst");
    FUZZ_CHECK(routed[i] == routed[0], "RouteBurst decided copies of one frame differently");
    if (routed[i] == nullptr) {
      FUZZ_CHECK(Bytes(copies[i]) == received, "RouteBurst changed a packet it left alone");
      continue;
    }
    FUZZ_CHECK(verdict.action == Action::kForward && verdict.next_hop == routed[i],
               "RouteBurst routed a packet DecidePacket did not forward there (action %d)",
               static_cast<int>(verdict.action));
    FUZZ_CHECK(Bytes(copies[i]) == Bytes(packet), "RouteBurst rewrote it unlike DecidePacket");
    FUZZ_CHECK(copies[i]->l2_len == packet->l2_len && copies[i]->l3_len == packet->l3_len,
               "RouteBurst set other lengths than DecidePacket");
  }
}

bool Routed(Action action) {
  return action == Action::kForward || action == Action::kToNode || action == Action::kToKernel ||
         action == Action::kResolve || action == Action::kEncapsulate;
}

void RunOne(Node& node, const Control& control, const uint8_t* frame, size_t length) {
  // Egress offloads for this input; the MTUs stay the routes'.
  for (uint32_t id = 0; id < node.next_hop_count; ++id) {
    NextHop& hop = node.next_hops[id];
    hop.caps = hop.kind == NextHopKind::kVxlan ? EgressCaps{.mtu = node.base_mtu[id]}
                                               : EgressCapsFor(control.caps, node.base_mtu[id]);
  }
  node.flows->Track(node.service_flow, kNow);

  const IngressPort& ingress = node.ingress[control.ingress];
  rte_mbuf* packet = Receive(node, control, frame, length);
  const uint32_t received_length = packet->pkt_len;
  bool ip_checksum_was_valid = false;
  if (length >= sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) && packet->data_len >= length) {
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frame + sizeof(rte_ether_hdr));
    ip_checksum_was_valid = sizeof(rte_ether_hdr) + rte_ipv4_hdr_len(ip) <= length &&
                            rte_ipv4_hdr_len(ip) >= sizeof(rte_ipv4_hdr) &&
                            rte_raw_cksum(ip, rte_ipv4_hdr_len(ip)) == 0xffff;
  }

  std::array<rte_mbuf*, kBurstCopies> copies{};
  for (rte_mbuf*& copy : copies) copy = Receive(node, control, frame, length);
  const std::vector<uint8_t> received = Bytes(copies[0]);
  std::array<const NextHop*, kMaxBurstSize> routed{};
  RouteBurst(node.routing, ingress, copies.data(), kBurstCopies, routed.data());

  const Verdict verdict = DecidePacket(node.routing, ingress, packet, kNow);
  CheckMbuf(packet, "DecidePacket");
  CheckRouteBurst(copies, routed, received, packet, verdict);
  for (rte_mbuf* copy : copies) rte_pktmbuf_free(copy);
  FUZZ_CHECK(verdict.action <= Action::kDrop, "action %d out of range",
             static_cast<int>(verdict.action));
  FUZZ_CHECK(verdict.drop_reason < DropReason::kCount, "drop reason %d out of range",
             static_cast<int>(verdict.drop_reason));
  FUZZ_CHECK(verdict.icmp_error <= IcmpError::kFragmentationNeeded, "ICMP error out of range");
  FUZZ_CHECK(verdict.icmp_error == IcmpError::kNone || verdict.action == Action::kDrop,
             "an ICMP error for a packet that is not dropped");
  if (verdict.decapsulated) {
    FUZZ_CHECK(ingress.role == PortRole::kUplink, "decapsulated a packet from a %s port",
               ingress.role == PortRole::kPod ? "pod" : "host");
    FUZZ_CHECK(verdict.action == Action::kForward || verdict.action == Action::kToKernel ||
                   verdict.action == Action::kDrop,
               "the inner packet of VXLAN routed other than to a pod or the kernel (action %d)",
               static_cast<int>(verdict.action));
    FUZZ_CHECK(verdict.icmp_error == IcmpError::kNone, "an ICMP error into a tunnel");
  } else if (verdict.action != Action::kDrop) {
    FUZZ_CHECK(packet->pkt_len == received_length, "the frame changed length from %u to %u",
               received_length, packet->pkt_len);
  }

  // What PrepareForEgress must keep valid: the header the frame came with, which a decapsulated
  // packet no longer carries (its inner header's checksum was never looked at).
  const bool header_checksum_was_valid = ip_checksum_was_valid && !verdict.decapsulated;
  std::vector<rte_mbuf*> to_free;
  if (Routed(verdict.action)) {
    const NextHop* hop = verdict.next_hop;
    FUZZ_CHECK(hop >= node.next_hops.data() && hop < node.next_hops.data() + node.next_hop_count,
               "next hop outside the table");
    FUZZ_CHECK(
        (hop->allowed_ingress & RoleMask(ingress.role)) != 0 || verdict.action == Action::kToKernel,
        "a next hop that does not take packets from this port");
    FUZZ_CHECK(packet->l2_len == sizeof(rte_ether_hdr), "l2_len %u", packet->l2_len);
    const auto* ip = Ipv4At(packet, packet->l2_len);
    FUZZ_CHECK(packet->l3_len == rte_ipv4_hdr_len(ip) && packet->l3_len >= sizeof(rte_ipv4_hdr),
               "l3_len %u for an IPv4 header of %u", packet->l3_len, rte_ipv4_hdr_len(ip));
    const auto* ethernet = rte_pktmbuf_mtod(packet, const rte_ether_hdr*);
    FUZZ_CHECK(rte_is_same_ether_addr(&ethernet->src_addr, &hop->src_mac),
               "routed without the next hop's source MAC");
    FUZZ_CHECK(!ip_checksum_was_valid || verdict.decapsulated || HeaderChecksumValid(ip),
               "the TTL decrement broke a valid IPv4 header checksum");
    FUZZ_CHECK(verdict.action != Action::kResolve || verdict.neighbour_ip != 0,
               "kResolve without a neighbour");
    if (ingress.role == PortRole::kHost && verdict.action != Action::kToNode &&
        verdict.action != Action::kToKernel) {
      KernelFlow flow;
      if (KernelFlowOf(node.routing, packet, *hop, &flow)) {
        FUZZ_CHECK(flow.reply_port == hop->port_id, "a kernel flow's replies on another port");
      }
    }
    const bool gso_packet = (packet->ol_flags & RTE_MBUF_F_RX_LRO) != 0;
    if (verdict.action == Action::kEncapsulate) {
      FUZZ_CHECK(hop->kind == NextHopKind::kVxlan, "kEncapsulate for a next hop that is no VXLAN");
      const uint16_t source_port = VxlanSourcePort(packet);
      FUZZ_CHECK(source_port >= 49152, "VXLAN source port %u", source_port);
      std::vector<rte_mbuf*> inner;
      if (HasOffloadMetadata(packet) &&
          !CheckPrepared(node, packet, hop->caps, header_checksum_was_valid, gso_packet, &inner)) {
        to_free.push_back(packet);  // the worker drops it
        inner.clear();
      } else if (inner.empty()) {
        inner.push_back(packet);
      }
      for (rte_mbuf* segment : inner) {
        const uint32_t inner_length = segment->pkt_len;
        rte_mbuf* outer = segment;
        const Verdict encapsulated =
            EncapsulateVxlan(node.routing, *hop, &outer, source_port, node.pools.headers);
        FUZZ_CHECK(
            encapsulated.action == Action::kForward || encapsulated.action == Action::kResolve,
            "EncapsulateVxlan failed (action %d) with mbufs to spare",
            static_cast<int>(encapsulated.action));
        CheckVxlan(node, outer, inner_length);
        to_free.push_back(outer);
      }
    } else if (HasOffloadMetadata(packet)) {
      CheckPrepared(node, packet, hop->caps, header_checksum_was_valid, gso_packet, &to_free);
    } else {
      to_free.push_back(packet);
    }
  } else if (verdict.action == Action::kReplyToSender) {
    const auto* arp = rte_pktmbuf_mtod_offset(packet, const rte_arp_hdr*, sizeof(rte_ether_hdr));
    FUZZ_CHECK(arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REPLY), "ARP answer that is no reply");
    to_free.push_back(packet);
  } else if (verdict.action == Action::kNeighbourArp) {
    FUZZ_CHECK(ingress.role == PortRole::kUplink, "kNeighbourArp from a port that is no uplink");
    const Verdict answer = AnswerNodeArp(ingress, packet);
    FUZZ_CHECK(
        answer.action == Action::kReplyToSender ||
            (answer.action == Action::kDrop && answer.drop_reason == DropReason::kArpIgnored),
        "AnswerNodeArp: action %d", static_cast<int>(answer.action));
    to_free.push_back(packet);
  } else {
    FUZZ_CHECK(verdict.action == Action::kDrop, "unknown action");
    if (verdict.icmp_error != IcmpError::kNone) {
      const bool uplink = ingress.role == PortRole::kUplink;
      rte_mbuf* reply =
          BuildIcmpError(packet, verdict.icmp_error, verdict.icmp_mtu,
                         uplink ? ingress.mac : node.routing.gateway_mac,
                         uplink ? ingress.ip : node.routing.gateway_ip, node.pools.icmp);
      FUZZ_CHECK(reply != nullptr, "BuildIcmpError failed with mbufs to spare");
      CheckIcmpError(packet, reply);
      to_free.push_back(reply);
    }
    to_free.push_back(packet);
  }
  for (rte_mbuf* mbuf : to_free) rte_pktmbuf_free(mbuf);

  // Every mbuf is back: nothing on the path kept or lost one.
  for (rte_mempool* pool : {node.pools.packets, node.pools.shells, node.pools.headers,
                            node.pools.indirect, node.pools.icmp}) {
    FUZZ_CHECK(rte_mempool_in_use_count(pool) == 0, "%u mbufs of %s not returned",
               rte_mempool_in_use_count(pool), pool->name);
  }
}

}  // namespace
}  // namespace dpcni::dataplane

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  dpcni::fuzz::StartEal(*argc, *argv);
  dpcni::dataplane::TheNode();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dpcni::dataplane;
  // A frame fits one pool buffer: larger ones are no frames a port hands over.
  if (size < kControlBytes || size - kControlBytes > RTE_MBUF_DEFAULT_DATAROOM) {
    return -1;  // not added to the corpus
  }
  RunOne(TheNode(), ReadControl(data), data + kControlBytes, size - kControlBytes);
  return 0;
}
