#include "tests/dataplane/engine/test_packets.h"

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_udp.h>

#include <cstring>

namespace dpcni::dataplane::testing {
namespace {

constexpr uint16_t kL2Length = sizeof(rte_ether_hdr);
constexpr uint16_t kL3Length = sizeof(rte_ipv4_hdr);

uint16_t L4HeaderLength(uint8_t protocol) {
  return protocol == IPPROTO_TCP ? sizeof(rte_tcp_hdr) : sizeof(rte_udp_hdr);
}

char* Append(rte_mbuf* packet, uint16_t length) {
  char* data = rte_pktmbuf_append(packet, length);
  if (data == nullptr) {
    rte_exit(EXIT_FAILURE, "test packet of %u bytes does not fit an mbuf\n", length);
  }
  return data;
}

// Writes the frame's Ethernet and IPv4 headers at `data` (zeroed) for `l4_length` bytes of
// `protocol` after them; returns the IPv4 header.
rte_ipv4_hdr* WriteHeaders(char* data, const Ipv4Frame& frame, uint8_t protocol, size_t l4_length) {
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(data);
  ethernet->src_addr = frame.src_mac;
  ethernet->dst_addr = frame.dst_mac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + kL2Length);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(kL3Length + l4_length));
  ip->packet_id = RTE_BE16(7);
  ip->time_to_live = frame.ttl;
  ip->next_proto_id = protocol;
  ip->src_addr = rte_cpu_to_be_32(frame.src_ip);
  ip->dst_addr = rte_cpu_to_be_32(frame.dst_ip);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  return ip;
}

void SetL4Checksum(rte_mbuf* packet, rte_be16_t checksum) {
  if (Ipv4(packet)->next_proto_id == IPPROTO_TCP) {
    Tcp(packet)->cksum = checksum;
  } else {
    rte_pktmbuf_mtod_offset(packet, rte_udp_hdr*, kL2Length + kL3Length)->dgram_cksum = checksum;
  }
}

}  // namespace

rte_ether_hdr* Ethernet(rte_mbuf* packet) { return rte_pktmbuf_mtod(packet, rte_ether_hdr*); }

rte_arp_hdr* Arp(rte_mbuf* packet) {
  return rte_pktmbuf_mtod_offset(packet, rte_arp_hdr*, kL2Length);
}

rte_ipv4_hdr* Ipv4(rte_mbuf* packet) {
  return rte_pktmbuf_mtod_offset(packet, rte_ipv4_hdr*, kL2Length);
}

rte_tcp_hdr* Tcp(rte_mbuf* packet) {
  return rte_pktmbuf_mtod_offset(packet, rte_tcp_hdr*, kL2Length + kL3Length);
}

rte_mbuf* BuildIpv4(rte_mempool* pool, const Ipv4Frame& frame) {
  rte_mbuf* packet = rte_pktmbuf_alloc(pool);
  if (packet == nullptr) {
    return nullptr;
  }
  const uint16_t l4_length = L4HeaderLength(frame.protocol);
  char* data = Append(packet, kL2Length + kL3Length + l4_length + frame.payload_size);
  std::memset(data, 0, kL2Length + kL3Length + l4_length);

  auto* ip = WriteHeaders(data, frame, frame.protocol, l4_length + frame.payload_size);

  char* l4 = data + kL2Length + kL3Length;
  if (frame.protocol == IPPROTO_TCP) {
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(l4);
    tcp->src_port = rte_cpu_to_be_16(frame.src_port);
    tcp->dst_port = rte_cpu_to_be_16(frame.dst_port != 0 ? frame.dst_port : 5201);
    tcp->sent_seq = rte_cpu_to_be_32(frame.tcp_seq);
    tcp->data_off = (sizeof(rte_tcp_hdr) / 4) << 4;
    tcp->tcp_flags = frame.tcp_flags;
    tcp->rx_win = RTE_BE16(65535);
  } else {
    auto* udp = reinterpret_cast<rte_udp_hdr*>(l4);
    udp->src_port = rte_cpu_to_be_16(frame.src_port);
    udp->dst_port = rte_cpu_to_be_16(frame.dst_port != 0 ? frame.dst_port : 53);
    udp->dgram_len = rte_cpu_to_be_16(l4_length + frame.payload_size);
  }
  auto* payload = reinterpret_cast<uint8_t*>(l4 + l4_length);
  for (uint16_t i = 0; i < frame.payload_size; ++i) {
    payload[i] = static_cast<uint8_t>(i);
  }
  SetL4Checksum(packet, rte_ipv4_udptcp_cksum(ip, l4));
  return packet;
}

namespace {

// An ICMP packet between the frame's addresses whose ICMP header and payload are `body`.
rte_mbuf* BuildIcmp(rte_mempool* pool, const Ipv4Frame& frame, const std::vector<uint8_t>& body) {
  rte_mbuf* packet = rte_pktmbuf_alloc(pool);
  if (packet == nullptr) {
    return nullptr;
  }
  char* data = Append(packet, kL2Length + kL3Length + body.size());
  std::memset(data, 0, kL2Length + kL3Length);
  WriteHeaders(data, frame, IPPROTO_ICMP, body.size());
  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(data + kL2Length + kL3Length);
  std::memcpy(icmp, body.data(), body.size());
  icmp->icmp_cksum = 0;
  icmp->icmp_cksum = static_cast<rte_be16_t>(~rte_raw_cksum(icmp, body.size()));
  return packet;
}

}  // namespace

rte_mbuf* BuildIcmpEcho(rte_mempool* pool, const Ipv4Frame& frame, uint8_t type, uint16_t ident) {
  std::vector<uint8_t> body(sizeof(rte_icmp_hdr) + frame.payload_size);
  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(body.data());
  icmp->icmp_type = type;
  icmp->icmp_ident = rte_cpu_to_be_16(ident);
  icmp->icmp_seq_nb = RTE_BE16(1);
  return BuildIcmp(pool, frame, body);
}

rte_mbuf* BuildIcmpError(rte_mempool* pool, const Ipv4Frame& frame, rte_mbuf* quoted) {
  const uint16_t quoted_length = kL3Length + 8;
  std::vector<uint8_t> body(sizeof(rte_icmp_hdr) + quoted_length);
  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(body.data());
  icmp->icmp_type = 3;  // destination unreachable
  icmp->icmp_code = 3;  // port unreachable
  std::memcpy(body.data() + sizeof(rte_icmp_hdr), Ipv4(quoted), quoted_length);
  return BuildIcmp(pool, frame, body);
}

rte_mbuf* BuildArpRequest(rte_mempool* pool, const rte_ether_addr& sender_mac, uint32_t sender_ip,
                          uint32_t target_ip) {
  rte_mbuf* packet = rte_pktmbuf_alloc(pool);
  if (packet == nullptr) {
    return nullptr;
  }
  char* data = Append(packet, kL2Length + sizeof(rte_arp_hdr));
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(data);
  std::memset(&ethernet->dst_addr, 0xff, sizeof(ethernet->dst_addr));
  ethernet->src_addr = sender_mac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(data + kL2Length);
  arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = sizeof(rte_be32_t);
  arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
  arp->arp_data.arp_sha = sender_mac;
  arp->arp_data.arp_sip = rte_cpu_to_be_32(sender_ip);
  std::memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
  arp->arp_data.arp_tip = rte_cpu_to_be_32(target_ip);
  return packet;
}

rte_mbuf* BuildArpReply(rte_mempool* pool, const rte_ether_addr& sender_mac, uint32_t sender_ip,
                        const rte_ether_addr& target_mac, uint32_t target_ip) {
  rte_mbuf* packet = BuildArpRequest(pool, sender_mac, sender_ip, target_ip);
  if (packet == nullptr) {
    return nullptr;
  }
  Ethernet(packet)->dst_addr = target_mac;
  Arp(packet)->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
  Arp(packet)->arp_data.arp_tha = target_mac;
  return packet;
}

rte_mbuf* BuildIpv6(rte_mempool* pool, const rte_ether_addr& src_mac) {
  rte_mbuf* packet = rte_pktmbuf_alloc(pool);
  if (packet == nullptr) {
    return nullptr;
  }
  char* data = Append(packet, kL2Length + 40);
  std::memset(data, 0, kL2Length + 40);
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(data);
  ethernet->src_addr = src_mac;
  ethernet->dst_addr = kGatewayMac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
  data[kL2Length] = 0x60;
  return packet;
}

void MarkAsGsoFromVirtio(rte_mbuf* packet, uint16_t mss) {
  MarkAsPartialChecksum(packet);
  packet->ol_flags |= RTE_MBUF_F_RX_LRO;
  packet->tso_segsz = mss;
}

void MarkAsPartialChecksum(rte_mbuf* packet) {
  packet->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
  // As Linux leaves it for CHECKSUM_PARTIAL: the folded pseudo-header sum, payload length included.
  SetL4Checksum(packet, rte_ipv4_phdr_cksum(Ipv4(packet), 0));
}

bool Ipv4ChecksumValid(rte_mbuf* packet) { return rte_ipv4_cksum(Ipv4(packet)) == 0; }

bool L4ChecksumValid(rte_mbuf* packet) {
  return rte_ipv4_udptcp_cksum_mbuf_verify(packet, Ipv4(packet), kL2Length + kL3Length) == 0;
}

std::vector<uint8_t> L4Payload(rte_mbuf* packet) {
  uint16_t headers = kL2Length + kL3Length;
  headers += Ipv4(packet)->next_proto_id == IPPROTO_TCP ? (Tcp(packet)->data_off >> 4) * 4
                                                        : sizeof(rte_udp_hdr);
  uint32_t ip_end = kL2Length + rte_be_to_cpu_16(Ipv4(packet)->total_length);
  std::vector<uint8_t> payload(ip_end - headers);
  const void* bytes = rte_pktmbuf_read(packet, headers, payload.size(), payload.data());
  if (bytes != payload.data()) {
    std::memcpy(payload.data(), bytes, payload.size());
  }
  return payload;
}

}  // namespace dpcni::dataplane::testing
