// The frame the engine benchmarks feed a forwarder: 64 bytes of Ethernet, IPv4 and UDP, with a
// valid header checksum. Shared by engine_bench and libframed_ports.so, and header-only: the
// preload library links no library of ours or DPDK's.
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstdint>

namespace dpcni::bench {

inline constexpr uint16_t kFrameSize = 64;  // net_null's default packet size

struct UdpFlow {
  rte_ether_addr src_mac{};
  rte_ether_addr dst_mac{};
  uint32_t src_ip = 0;  // host byte order
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
};

// Writes the kFrameSize bytes of `flow`'s frame at `frame`.
inline void WriteUdpFrame(uint8_t* frame, const UdpFlow& flow) {
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(frame);
  ethernet->src_addr = flow.src_mac;
  ethernet->dst_addr = flow.dst_mac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  *ip = rte_ipv4_hdr{};
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(kFrameSize - sizeof(rte_ether_hdr));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(flow.src_ip);
  ip->dst_addr = rte_cpu_to_be_32(flow.dst_ip);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  *udp = rte_udp_hdr{};
  udp->src_port = rte_cpu_to_be_16(flow.src_port);
  udp->dst_port = rte_cpu_to_be_16(flow.dst_port);
  udp->dgram_len = rte_cpu_to_be_16(kFrameSize - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
}

}  // namespace dpcni::bench
