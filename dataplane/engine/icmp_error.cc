#include "dataplane/engine/icmp_error.h"

#include <rte_icmp.h>

#include <algorithm>
#include <cstring>

namespace dpcni::dataplane {
namespace {

// ICMP messages that are no errors (RFC 792, RFC 1256): echo, router advertisement and
// solicitation, timestamp, information and address mask requests and replies. Anything else, and
// types nobody assigned, is treated as an error and never answered.
bool IsInformational(uint8_t type) {
  switch (type) {
    case 0:   // echo reply
    case 8:   // echo request
    case 9:   // router advertisement
    case 10:  // router solicitation
    case 13:  // timestamp
    case 14:  // timestamp reply
    case 15:  // information request
    case 16:  // information reply
    case 17:  // address mask request
    case 18:  // address mask reply
      return true;
    default:
      return false;
  }
}

// An address that names one host: not "this network" (0/8), loopback (127/8), multicast (224/4),
// class E (240/4) or the limited broadcast (inside class E).
bool IsSingleHost(rte_be32_t address) {
  const uint32_t host_order = rte_be_to_cpu_32(address);
  const uint8_t first = static_cast<uint8_t>(host_order >> 24);
  return first != 0 && first != 127 && first < 224;
}

}  // namespace

bool MayAnswerWithIcmpError(const rte_mbuf* packet, const rte_ether_hdr* ethernet,
                            const rte_ipv4_hdr* ip) {
  if (rte_is_multicast_ether_addr(&ethernet->dst_addr) || !IsSingleHost(ip->src_addr) ||
      !IsSingleHost(ip->dst_addr)) {
    return false;
  }
  if ((ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
    return false;  // only the first fragment is answered, which carries the L4 header
  }
  if (ip->next_proto_id != IPPROTO_ICMP) {
    return true;
  }
  const uint32_t type_offset = static_cast<uint32_t>(reinterpret_cast<const uint8_t*>(ip) -
                                                     rte_pktmbuf_mtod(packet, const uint8_t*)) +
                               rte_ipv4_hdr_len(ip);
  uint8_t type;
  const auto* read = static_cast<const uint8_t*>(rte_pktmbuf_read(packet, type_offset, 1, &type));
  return read != nullptr && rte_be_to_cpu_16(ip->total_length) > rte_ipv4_hdr_len(ip) &&
         IsInformational(*read);
}

rte_mbuf* BuildIcmpError(const rte_mbuf* offending, IcmpError error, uint16_t mtu,
                         const rte_ether_addr& source_mac, rte_be32_t source_ip,
                         rte_mempool* pool) {
  const auto* offending_ethernet = rte_pktmbuf_mtod(offending, const rte_ether_hdr*);
  const auto* offending_ip = reinterpret_cast<const rte_ipv4_hdr*>(offending_ethernet + 1);
  const uint32_t quoted = std::min<uint32_t>(rte_ipv4_hdr_len(offending_ip) + 8,
                                             rte_be_to_cpu_16(offending_ip->total_length));
  rte_mbuf* reply = rte_pktmbuf_alloc(pool);
  if (reply == nullptr) {
    return nullptr;
  }
  const uint32_t icmp_length = sizeof(rte_icmp_hdr) + quoted;
  const uint32_t ip_length = sizeof(rte_ipv4_hdr) + icmp_length;
  auto* frame = reinterpret_cast<uint8_t*>(
      rte_pktmbuf_append(reply, static_cast<uint16_t>(sizeof(rte_ether_hdr) + ip_length)));
  if (frame == nullptr) {
    rte_pktmbuf_free(reply);
    return nullptr;
  }
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(frame);
  ethernet->dst_addr = offending_ethernet->src_addr;
  ethernet->src_addr = source_mac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);

  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  // Precedence 6, "internetwork control", as RFC 1812 4.3.2.5 suggests for ICMP errors (and Linux
  // sends them).
  ip->type_of_service = 0xc0;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(ip_length));
  ip->packet_id = 0;  // DF is set: an atomic datagram needs no unique id (RFC 6864)
  ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = source_ip;
  ip->dst_addr = offending_ip->src_addr;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);

  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  if (error == IcmpError::kFragmentationNeeded) {
    icmp->icmp_type = kIcmpDestinationUnreachable;
    icmp->icmp_code = kIcmpCodeFragmentationNeeded;
    // RFC 1191: the first 16 bits after the checksum are unused, the next 16 carry the MTU; they
    // are the fields DPDK calls the echo identifier and sequence number.
    icmp->icmp_ident = 0;
    icmp->icmp_seq_nb = rte_cpu_to_be_16(mtu);
  } else {
    icmp->icmp_type = kIcmpTimeExceeded;
    icmp->icmp_code = kIcmpCodeTtlExceeded;
    icmp->icmp_ident = 0;
    icmp->icmp_seq_nb = 0;
  }
  // The quote may span segments of a chained packet: rte_pktmbuf_read gathers it.
  auto* quote = reinterpret_cast<uint8_t*>(icmp + 1);
  const void* source = rte_pktmbuf_read(offending, sizeof(rte_ether_hdr), quoted, quote);
  if (source == nullptr) {  // cannot happen for a packet DecidePacket checked; never quote garbage
    rte_pktmbuf_free(reply);
    return nullptr;
  }
  if (source != quote) {
    std::memcpy(quote, source, quoted);
  }
  icmp->icmp_cksum = 0;
  const uint16_t sum = rte_raw_cksum(icmp, icmp_length);
  icmp->icmp_cksum = static_cast<uint16_t>(~sum);
  reply->l2_len = sizeof(rte_ether_hdr);
  reply->l3_len = sizeof(rte_ipv4_hdr);
  return reply;
}

}  // namespace dpcni::dataplane
