// The TTL decrement's incremental header checksum must leave every header valid, as a full
// recomputation would.
#include <rte_ip.h>

#include <random>

#include "dataplane/engine/packet_path.h"
#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

// What a receiver checks: the one's complement sum over the header, checksum included, is all ones.
bool ChecksumValid(const rte_ipv4_hdr& ip) { return rte_ipv4_cksum(&ip) == 0; }

TEST(DecrementTtlTest, LeavesAValidChecksumForRandomHeaders) {
  std::mt19937 random(20240611);
  std::uniform_int_distribution<uint32_t> byte(0, 255);
  for (int round = 0; round < 100000; ++round) {
    rte_ipv4_hdr ip;
    auto* bytes = reinterpret_cast<uint8_t*>(&ip);
    for (size_t i = 0; i < sizeof(ip); ++i) {
      bytes[i] = static_cast<uint8_t>(byte(random));
    }
    ip.version_ihl = RTE_IPV4_VHL_DEF;
    ip.time_to_live = static_cast<uint8_t>(2 + byte(random) % 254);
    ip.hdr_checksum = 0;
    ip.hdr_checksum = rte_ipv4_cksum(&ip);
    const uint8_t ttl = ip.time_to_live;

    DecrementTtl(&ip);

    ASSERT_EQ(ip.time_to_live, ttl - 1) << "round " << round;
    ASSERT_TRUE(ChecksumValid(ip)) << "round " << round << ", ttl " << int{ttl};
  }
}

TEST(DecrementTtlTest, LeavesAValidChecksumAcrossTheWholeTtlRange) {
  for (int ttl = 2; ttl <= 255; ++ttl) {
    rte_ipv4_hdr ip{};
    ip.version_ihl = RTE_IPV4_VHL_DEF;
    ip.total_length = RTE_BE16(84);
    ip.time_to_live = static_cast<uint8_t>(ttl);
    ip.next_proto_id = IPPROTO_ICMP;
    ip.src_addr = RTE_BE32(RTE_IPV4(10, 244, 0, 10));
    ip.dst_addr = RTE_BE32(RTE_IPV4(10, 244, 0, 11));
    ip.hdr_checksum = rte_ipv4_cksum(&ip);
    DecrementTtl(&ip);
    const rte_be16_t updated = ip.hdr_checksum;
    ip.hdr_checksum = 0;
    EXPECT_EQ(updated, rte_ipv4_cksum(&ip)) << "ttl " << ttl;
  }
}

// The checksum bytes whose addition carries out of 16 bits, in either byte of the stored word.
TEST(DecrementTtlTest, FoldsTheCarryBackIn) {
  for (uint32_t stored : {0xffffu, 0xff00u, 0x00ffu, 0xfeffu, 0xfffeu}) {
    rte_ipv4_hdr ip{};
    ip.version_ihl = RTE_IPV4_VHL_DEF;
    ip.time_to_live = 64;
    ip.next_proto_id = IPPROTO_UDP;
    ip.hdr_checksum = static_cast<rte_be16_t>(stored);
    // The packet id that makes the header valid with this checksum: what the other words lack.
    ip.packet_id = 0;
    ip.packet_id = rte_ipv4_cksum(&ip);
    ASSERT_TRUE(ChecksumValid(ip)) << std::hex << stored;
    DecrementTtl(&ip);
    EXPECT_TRUE(ChecksumValid(ip)) << std::hex << stored;
  }
}

}  // namespace
}  // namespace dpcni::dataplane
