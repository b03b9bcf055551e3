// Builds and inspects the frames the engine tests send: ARP requests and IPv4 TCP/UDP packets with
// valid checksums, in mbufs from a caller's pool.
#pragma once

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <cstdint>
#include <vector>

namespace dpcni::dataplane::testing {

inline constexpr uint32_t kGatewayIp = RTE_IPV4(169, 254, 1, 1);
inline constexpr rte_ether_addr kGatewayMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x01}};
// The node: the kernel side of the host port, and the uplink on 192.168.1.0/24 with two neighbours.
inline constexpr rte_ether_addr kKernelMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x02}};
inline constexpr rte_ether_addr kUplinkMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x03}};
inline constexpr uint32_t kNodeIp = RTE_IPV4(192, 168, 1, 2);
inline constexpr uint8_t kUplinkPrefixLength = 24;
inline constexpr uint32_t kNeighbourIp = RTE_IPV4(192, 168, 1, 20);
inline constexpr rte_ether_addr kNeighbourMac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0x20}};
inline constexpr uint32_t kRouterIp = RTE_IPV4(192, 168, 1, 254);
inline constexpr rte_ether_addr kRouterMac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0xfe}};

struct Ipv4Frame {
  rte_ether_addr src_mac{};
  rte_ether_addr dst_mac = kGatewayMac;
  uint32_t src_ip = 0;  // host byte order
  uint32_t dst_ip = 0;  // host byte order
  uint8_t ttl = 64;
  uint8_t protocol = IPPROTO_UDP;
  uint16_t payload_size = 18;
  uint32_t tcp_seq = 1000;
  uint8_t tcp_flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG;
  uint16_t src_port = 40000;
  uint16_t dst_port = 0;  // 0: 5201 for TCP, 53 for UDP
};

// A frame with valid IPv4 and L4 checksums; the payload bytes count up from 0 (mod 256).
rte_mbuf* BuildIpv4(rte_mempool* pool, const Ipv4Frame& frame);
// An ICMP echo request or reply (`type`) with identifier `ident` between the frame's addresses.
rte_mbuf* BuildIcmpEcho(rte_mempool* pool, const Ipv4Frame& frame, uint8_t type, uint16_t ident);
// A destination-unreachable error between the frame's addresses quoting `quoted`'s IPv4 header
// and the first 8 bytes after it, as a host sends about a packet it could not deliver.
rte_mbuf* BuildIcmpError(rte_mempool* pool, const Ipv4Frame& frame, rte_mbuf* quoted);
// A broadcast ARP request from `sender` for `target_ip`.
rte_mbuf* BuildArpRequest(rte_mempool* pool, const rte_ether_addr& sender_mac, uint32_t sender_ip,
                          uint32_t target_ip);
// The ARP reply a host `sender` sends to `target` (unicast).
rte_mbuf* BuildArpReply(rte_mempool* pool, const rte_ether_addr& sender_mac, uint32_t sender_ip,
                        const rte_ether_addr& target_mac, uint32_t target_ip);
// A frame of some other EtherType (IPv6) from `src_mac`.
rte_mbuf* BuildIpv6(rte_mempool* pool, const rte_ether_addr& src_mac);

// Marks a packet as a virtio-user port hands over a GSO packet: RX_LRO + MSS, and a TCP/UDP
// checksum field that holds only the pseudo-header sum (RX_L4_CKSUM_NONE).
void MarkAsGsoFromVirtio(rte_mbuf* packet, uint16_t mss);
void MarkAsPartialChecksum(rte_mbuf* packet);

rte_ether_hdr* Ethernet(rte_mbuf* packet);
rte_arp_hdr* Arp(rte_mbuf* packet);
rte_ipv4_hdr* Ipv4(rte_mbuf* packet);
rte_tcp_hdr* Tcp(rte_mbuf* packet);
bool Ipv4ChecksumValid(rte_mbuf* packet);
bool L4ChecksumValid(rte_mbuf* packet);
// The bytes after the Ethernet, IPv4 and L4 headers, gathered across segments.
std::vector<uint8_t> L4Payload(rte_mbuf* packet);

}  // namespace dpcni::dataplane::testing
