// ICMP errors the engine sends about packets it drops as a router would (RFC 792, RFC 1812
// section 4.3): "time exceeded" for a TTL that would reach zero, "fragmentation needed" for a
// packet with DF set that does not fit the egress MTU (RFC 1191, which path MTU discovery relies
// on).
#pragma once

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>

namespace dpcni::dataplane {

// ICMP types and codes; DPDK 22.11's rte_icmp.h names only the echo types.
inline constexpr uint8_t kIcmpDestinationUnreachable = 3;
inline constexpr uint8_t kIcmpCodeFragmentationNeeded = 4;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpCodeTtlExceeded = 0;
inline constexpr uint8_t kIcmpParameterProblem = 12;

// Which error a dropped packet's sender gets (Verdict::icmp_error).
enum class IcmpError : uint8_t {
  kNone,
  kTimeExceeded,         // type 11 code 0
  kFragmentationNeeded,  // type 3 code 4, with the next hop's MTU
};

// Whether a packet the engine drops may be answered with an ICMP error at all (RFC 1812
// 4.3.2.7): not about an ICMP error (or an ICMP message whose type we cannot read), not about a
// link-layer broadcast or multicast frame, an IP broadcast or multicast destination, a fragment
// other than the first, or a source that names no single host (0/8, 127/8, multicast, class E,
// broadcast). `ethernet` and `ip` are the packet's headers as received, the IPv4 header checked
// for consistency.
bool MayAnswerWithIcmpError(const rte_mbuf* packet, const rte_ether_hdr* ethernet,
                            const rte_ipv4_hdr* ip);

// The frame that tells the sender of `offending` (its Ethernet and IPv4 headers as received) about
// `error`: to the frame's Ethernet source, from `source_mac` and `source_ip` (network byte order),
// quoting the offending IPv4 header and the first 8 bytes after it (RFC 792). `mtu` is the next
// hop's, for kFragmentationNeeded. An mbuf from `pool` with every checksum computed and no offload
// requested, or nullptr when the pool is empty.
rte_mbuf* BuildIcmpError(const rte_mbuf* offending, IcmpError error, uint16_t mtu,
                         const rte_ether_addr& source_mac, rte_be32_t source_ip, rte_mempool* pool);

// The largest frame BuildIcmpError makes: Ethernet, IPv4, ICMP, and a quoted IPv4 header with
// options (60 bytes) and 8 bytes of what follows it.
inline constexpr uint16_t kIcmpErrorMaxFrame =
    sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + 8 + 60 + 8;

}  // namespace dpcni::dataplane
