// The incremental IPv4 header checksum update must agree with a full recomputation.
#include <rte_ip.h>

#include <cstring>
#include <random>

#include "dataplane/engine/packet_path.h"
#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

TEST(UpdateChecksumTest, AgreesWithFullRecomputationForRandomHeadersAndWords) {
  std::mt19937 random(20240611);
  std::uniform_int_distribution<uint32_t> byte(0, 255);
  for (int round = 0; round < 100000; ++round) {
    rte_ipv4_hdr ip;
    auto* bytes = reinterpret_cast<uint8_t*>(&ip);
    for (size_t i = 0; i < sizeof(ip); ++i) {
      bytes[i] = static_cast<uint8_t>(byte(random));
    }
    ip.version_ihl = RTE_IPV4_VHL_DEF;
    ip.hdr_checksum = 0;
    ip.hdr_checksum = rte_ipv4_cksum(&ip);

    // Any 16-bit word but the first (it holds the header length) and the checksum itself.
    constexpr size_t kWords[] = {1, 2, 3, 4, 6, 7, 8, 9};
    size_t word = kWords[byte(random) % 8];
    rte_be16_t old_word;
    std::memcpy(&old_word, bytes + 2 * word, sizeof(old_word));
    rte_be16_t new_word = static_cast<rte_be16_t>(byte(random) << 8 | byte(random));
    std::memcpy(bytes + 2 * word, &new_word, sizeof(new_word));

    rte_be16_t updated = UpdateChecksum(ip.hdr_checksum, old_word, new_word);
    ip.hdr_checksum = 0;
    ASSERT_EQ(updated, rte_ipv4_cksum(&ip)) << "round " << round << ", word " << word;
  }
}

TEST(UpdateChecksumTest, TtlDecrementAcrossTheWholeRange) {
  for (int ttl = 2; ttl <= 255; ++ttl) {
    rte_ipv4_hdr ip{};
    ip.version_ihl = RTE_IPV4_VHL_DEF;
    ip.total_length = RTE_BE16(84);
    ip.time_to_live = static_cast<uint8_t>(ttl);
    ip.next_proto_id = IPPROTO_ICMP;
    ip.src_addr = RTE_BE32(RTE_IPV4(10, 244, 0, 10));
    ip.dst_addr = RTE_BE32(RTE_IPV4(10, 244, 0, 11));
    ip.hdr_checksum = rte_ipv4_cksum(&ip);
    rte_be16_t old_word = static_cast<rte_be16_t>(rte_cpu_to_be_16(ttl << 8 | IPPROTO_ICMP));
    rte_be16_t new_word = static_cast<rte_be16_t>(rte_cpu_to_be_16((ttl - 1) << 8 | IPPROTO_ICMP));
    rte_be16_t updated = UpdateChecksum(ip.hdr_checksum, old_word, new_word);
    ip.time_to_live = static_cast<uint8_t>(ttl - 1);
    ip.hdr_checksum = 0;
    EXPECT_EQ(updated, rte_ipv4_cksum(&ip)) << "ttl " << ttl;
  }
}

}  // namespace
}  // namespace dpcni::dataplane
