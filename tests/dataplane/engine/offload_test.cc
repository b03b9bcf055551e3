// Rx offload metadata carried to the egress port: TSO requests where the port segments, software
// GSO and checksums where it does not.
#include "dataplane/engine/offload.h"

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using testing::Ipv4;
using testing::Ipv4Frame;
using testing::Tcp;

constexpr uint16_t kMss = 1400;
constexpr uint16_t kGsoPayload = 4000;  // three segments: 1400 + 1400 + 1200
constexpr uint32_t kFirstSeq = 1000;
constexpr uint16_t kHeaders = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr);
constexpr uint64_t kTxFlags =
    RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK;

class OffloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    large_pool_ = rte_pktmbuf_pool_create(testing::UniqueName("big").c_str(), 63, 0, 0,
                                          RTE_PKTMBUF_HEADROOM + 9000, SOCKET_ID_ANY);
    small_pool_ = rte_pktmbuf_pool_create(testing::UniqueName("small").c_str(), 255, 0, 0,
                                          RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    gso_.direct_pool = rte_pktmbuf_pool_create(testing::UniqueName("gso_hdr").c_str(), 255, 0, 0,
                                               RTE_PKTMBUF_HEADROOM + 256, SOCKET_ID_ANY);
    gso_.indirect_pool = rte_pktmbuf_pool_create(testing::UniqueName("gso_ref").c_str(), 255, 0, 0,
                                                 0, SOCKET_ID_ANY);
    gso_.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
    ASSERT_NE(large_pool_, nullptr);
    ASSERT_NE(small_pool_, nullptr);
    ASSERT_NE(gso_.direct_pool, nullptr);
    ASSERT_NE(gso_.indirect_pool, nullptr);
  }

  void TearDown() override {
    testing::FreeAll(out_);
    for (rte_mempool* pool : {large_pool_, small_pool_, gso_.direct_pool, gso_.indirect_pool}) {
      rte_mempool_free(pool);
    }
  }

  // A TCP packet as DecidePacket leaves it: routed, with l2_len and l3_len set.
  rte_mbuf* RoutedPacket(rte_mempool* pool, uint8_t protocol, uint16_t payload) {
    rte_mbuf* packet = testing::BuildIpv4(pool, Ipv4Frame{.src_ip = RTE_IPV4(10, 244, 0, 10),
                                                          .dst_ip = RTE_IPV4(10, 244, 0, 11),
                                                          .protocol = protocol,
                                                          .payload_size = payload,
                                                          .tcp_seq = kFirstSeq});
    EXPECT_NE(packet, nullptr);
    packet->l2_len = sizeof(rte_ether_hdr);
    packet->l3_len = sizeof(rte_ipv4_hdr);
    return packet;
  }

  rte_mbuf* GsoPacket(uint16_t mss) {
    rte_mbuf* packet = RoutedPacket(large_pool_, IPPROTO_TCP, kGsoPayload);
    testing::MarkAsGsoFromVirtio(packet, mss);
    return packet;
  }

  // Runs PrepareForEgress; what it outputs is freed by the fixture.
  EgressPackets Prepare(rte_mbuf* packet, const EgressCaps& caps) {
    rte_mbuf* out[128];
    EgressPackets prepared = PrepareForEgress(packet, caps, gso_, out, 128);
    if (prepared.count == 0) {
      rte_pktmbuf_free(packet);
    }
    out_.assign(out, out + prepared.count);
    return prepared;
  }

  // Checks that the outputs are the GSO packet cut into MSS-sized TCP segments, in order.
  void ExpectSegmentsOf(uint16_t mss) {
    std::vector<uint8_t> payload;
    uint32_t expected_seq = kFirstSeq;
    for (size_t i = 0; i < out_.size(); ++i) {
      rte_mbuf* segment = out_[i];
      SCOPED_TRACE(i);
      EXPECT_LE(segment->pkt_len, kHeaders + mss);
      EXPECT_EQ(rte_be_to_cpu_16(Ipv4(segment)->total_length),
                segment->pkt_len - sizeof(rte_ether_hdr));
      EXPECT_EQ(rte_be_to_cpu_32(Tcp(segment)->sent_seq), expected_seq);
      bool last = i + 1 == out_.size();
      EXPECT_EQ((Tcp(segment)->tcp_flags & RTE_TCP_PSH_FLAG) != 0, last);
      std::vector<uint8_t> piece = testing::L4Payload(segment);
      expected_seq += piece.size();
      payload.insert(payload.end(), piece.begin(), piece.end());
    }
    ASSERT_EQ(payload.size(), kGsoPayload);
    for (size_t i = 0; i < payload.size(); ++i) {
      ASSERT_EQ(payload[i], static_cast<uint8_t>(i)) << "payload byte " << i;
    }
  }

  rte_mempool* large_pool_ = nullptr;
  rte_mempool* small_pool_ = nullptr;
  rte_gso_ctx gso_{};
  std::vector<rte_mbuf*> out_;
};

TEST_F(OffloadTest, PlainPacketsCarryNoOffloadMetadata) {
  rte_mbuf* packet = RoutedPacket(small_pool_, IPPROTO_TCP, 100);
  EXPECT_FALSE(HasOffloadMetadata(packet));
  testing::MarkAsPartialChecksum(packet);
  EXPECT_TRUE(HasOffloadMetadata(packet));
  rte_pktmbuf_free(packet);
}

TEST_F(OffloadTest, GsoPacketToAPortWithTsoLeavesWholeWithASegmentationRequest) {
  rte_mbuf* packet = GsoPacket(kMss);
  EgressPackets prepared =
      Prepare(packet, EgressCaps{.tcp_segmentation = true, .tcp_checksum = true});

  ASSERT_EQ(prepared.count, 1);
  ASSERT_EQ(out_[0], packet);
  EXPECT_EQ(packet->ol_flags & kTxFlags,
            RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM);
  EXPECT_EQ(packet->tso_segsz, kMss);
  EXPECT_EQ(packet->l2_len, sizeof(rte_ether_hdr));
  EXPECT_EQ(packet->l3_len, sizeof(rte_ipv4_hdr));
  EXPECT_EQ(packet->l4_len, sizeof(rte_tcp_hdr));
  EXPECT_EQ(packet->pkt_len, kHeaders + kGsoPayload);
  // The port completes from the pseudo-header sum that leaves the length out, as DPDK's TSO wants.
  EXPECT_EQ(Tcp(packet)->cksum, rte_ipv4_phdr_cksum(Ipv4(packet), RTE_MBUF_F_TX_TCP_SEG));
  EXPECT_TRUE(testing::Ipv4ChecksumValid(packet));  // the port cannot fix it, so it stays valid
}

TEST_F(OffloadTest, TsoAlsoRequestsTheIpChecksumWhereThePortOffersIt) {
  rte_mbuf* packet = GsoPacket(kMss);
  ASSERT_EQ(
      Prepare(packet,
              EgressCaps{.tcp_segmentation = true, .ipv4_checksum = true, .tcp_checksum = true})
          .count,
      1);
  EXPECT_NE(packet->ol_flags & RTE_MBUF_F_TX_IP_CKSUM, 0u);
  EXPECT_EQ(Ipv4(packet)->hdr_checksum, 0);
}

TEST_F(OffloadTest, GsoPacketToAPortWithoutOffloadsIsSegmentedWithValidChecksums) {
  EgressPackets prepared = Prepare(GsoPacket(kMss), EgressCaps{});

  ASSERT_EQ(prepared.count, 3);
  ExpectSegmentsOf(kMss);
  for (rte_mbuf* segment : out_) {
    EXPECT_EQ(segment->ol_flags & kTxFlags, 0u);
    EXPECT_TRUE(testing::Ipv4ChecksumValid(segment));
    EXPECT_TRUE(testing::L4ChecksumValid(segment));
  }
}

TEST_F(OffloadTest, SegmentsLeaveChecksumsToAPortThatOffloadsThem) {
  EgressPackets prepared =
      Prepare(GsoPacket(kMss), EgressCaps{.ipv4_checksum = true, .tcp_checksum = true});

  ASSERT_EQ(prepared.count, 3);
  ExpectSegmentsOf(kMss);
  for (rte_mbuf* segment : out_) {
    EXPECT_EQ(segment->ol_flags & kTxFlags,
              RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM);
    EXPECT_EQ(Ipv4(segment)->hdr_checksum, 0);
    EXPECT_EQ(Tcp(segment)->cksum, rte_ipv4_phdr_cksum(Ipv4(segment), 0));
  }
}

TEST_F(OffloadTest, SegmentsAGsoPacketSpreadOverChainedMbufs) {
  // As virtio-user delivers a large packet in mergeable Rx buffers: headers plus a little payload
  // in the first mbuf, the rest in further segments.
  rte_mbuf* linear = GsoPacket(kMss);
  rte_mbuf* chained = rte_pktmbuf_alloc(small_pool_);
  ASSERT_NE(chained, nullptr);
  uint32_t offset = 0;
  for (uint16_t piece : {kHeaders + 500, 1700, 1800}) {
    rte_mbuf* segment = offset == 0 ? chained : rte_pktmbuf_alloc(small_pool_);
    ASSERT_NE(segment, nullptr);
    rte_memcpy(rte_pktmbuf_append(segment, piece), rte_pktmbuf_mtod_offset(linear, char*, offset),
               piece);
    if (segment != chained) {
      ASSERT_EQ(rte_pktmbuf_chain(chained, segment), 0);
    }
    offset += piece;
  }
  ASSERT_EQ(chained->pkt_len, linear->pkt_len);
  chained->ol_flags = linear->ol_flags;
  chained->tso_segsz = linear->tso_segsz;
  chained->l2_len = linear->l2_len;
  chained->l3_len = linear->l3_len;
  rte_pktmbuf_free(linear);

  EgressPackets prepared = Prepare(chained, EgressCaps{});

  ASSERT_EQ(prepared.count, 3);
  ExpectSegmentsOf(kMss);
  for (rte_mbuf* segment : out_) {
    EXPECT_TRUE(testing::Ipv4ChecksumValid(segment));
    EXPECT_TRUE(testing::L4ChecksumValid(segment));
  }
}

TEST_F(OffloadTest, GsoPacketWithoutMssIsCutToTheEgressMtu) {
  EgressPackets prepared = Prepare(GsoPacket(/*mss=*/0), EgressCaps{.mtu = 1500});

  ASSERT_EQ(prepared.count, 3);  // 1460 + 1460 + 1080
  ExpectSegmentsOf(1460);
}

TEST_F(OffloadTest, GsoPacketWithAnMssBeyondTheEgressMtuIsCutToTheMtu) {
  // A pod with a jumbo MTU sending to a 1500-byte uplink.
  EgressPackets prepared = Prepare(GsoPacket(/*mss=*/8948), EgressCaps{.mtu = 1500});

  ASSERT_EQ(prepared.count, 3);  // 1460 + 1460 + 1080
  ExpectSegmentsOf(1460);
}

TEST_F(OffloadTest, TsoRequestCarriesAnMssTheEgressMtuTakes) {
  rte_mbuf* packet = GsoPacket(/*mss=*/8948);
  ASSERT_EQ(Prepare(packet, EgressCaps{.tcp_segmentation = true, .mtu = 1500}).count, 1);
  EXPECT_EQ(packet->tso_segsz, 1460);
}

TEST_F(OffloadTest, CoalescedPacketThatCannotBeSegmentedMustFitTheMtu) {
  rte_mbuf* packet = RoutedPacket(large_pool_, IPPROTO_UDP, 4000);
  testing::MarkAsGsoFromVirtio(packet, kMss);  // UDP: nothing rte_gso is asked to cut

  EgressPackets prepared = Prepare(packet, EgressCaps{.mtu = 1500});
  EXPECT_EQ(prepared.count, 0);
  EXPECT_EQ(DropReasonName(prepared.drop_reason), DropReasonName(DropReason::kMtuExceeded));
}

TEST_F(OffloadTest, GsoPacketWithinOneMssOnlyGetsItsChecksumCompleted) {
  rte_mbuf* packet = RoutedPacket(small_pool_, IPPROTO_TCP, 1000);
  testing::MarkAsGsoFromVirtio(packet, kMss);

  ASSERT_EQ(Prepare(packet, EgressCaps{.tcp_segmentation = true}).count, 1);
  EXPECT_EQ(out_[0], packet);
  EXPECT_EQ(packet->ol_flags & kTxFlags, 0u);
  EXPECT_TRUE(testing::L4ChecksumValid(packet));
}

TEST_F(OffloadTest, PartialUdpChecksumIsCompletedInSoftwareForAPortWithoutOffload) {
  rte_mbuf* packet = RoutedPacket(small_pool_, IPPROTO_UDP, 300);
  testing::MarkAsPartialChecksum(packet);
  ASSERT_FALSE(testing::L4ChecksumValid(packet));

  ASSERT_EQ(Prepare(packet, EgressCaps{}).count, 1);
  EXPECT_EQ(packet->ol_flags & kTxFlags, 0u);
  EXPECT_TRUE(testing::L4ChecksumValid(packet));
  EXPECT_TRUE(testing::Ipv4ChecksumValid(packet));
}

TEST_F(OffloadTest, PartialTcpChecksumIsLeftToAPortWithChecksumOffload) {
  rte_mbuf* packet = RoutedPacket(small_pool_, IPPROTO_TCP, 300);
  testing::MarkAsPartialChecksum(packet);

  ASSERT_EQ(Prepare(packet, EgressCaps{.tcp_checksum = true}).count, 1);
  EXPECT_EQ(packet->ol_flags & kTxFlags, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM);
  EXPECT_EQ(packet->l4_len, sizeof(rte_tcp_hdr));
  EXPECT_EQ(Tcp(packet)->cksum, rte_ipv4_phdr_cksum(Ipv4(packet), 0));
}

// A packet in an external buffer (as drivers that attach their own buffers deliver) keeps it
// attached through its checksum completion or its segmentation: freeing what PrepareForEgress
// returns releases the buffer to its owner, once. Found by tests/fuzz/engine/decide_packet_fuzz.cc,
// whose frames live in external heap buffers.
class ExternalBuffer {
 public:
  // A copy of `built` (freed) in a buffer of ours, attached to an mbuf of `pool`.
  rte_mbuf* Attach(rte_mbuf* built, rte_mempool* pool) {
    bytes_.resize(built->data_len);
    std::copy_n(rte_pktmbuf_mtod(built, const uint8_t*), built->data_len, bytes_.begin());
    shared_info_.free_cb = [](void*, void* opaque) {
      ++static_cast<ExternalBuffer*>(opaque)->released_;
    };
    shared_info_.fcb_opaque = this;
    rte_mbuf_ext_refcnt_set(&shared_info_, 1);
    rte_mbuf* packet = rte_pktmbuf_alloc(pool);
    EXPECT_NE(packet, nullptr);
    rte_pktmbuf_attach_extbuf(packet, bytes_.data(), reinterpret_cast<uintptr_t>(bytes_.data()),
                              static_cast<uint16_t>(bytes_.size()), &shared_info_);
    packet->data_off = 0;
    packet->data_len = built->data_len;
    packet->pkt_len = built->pkt_len;
    packet->ol_flags |= built->ol_flags;
    packet->tso_segsz = built->tso_segsz;
    packet->l2_len = built->l2_len;
    packet->l3_len = built->l3_len;
    rte_pktmbuf_free(built);
    return packet;
  }
  int released() const { return released_; }

 private:
  std::vector<uint8_t> bytes_;
  rte_mbuf_ext_shared_info shared_info_{};
  int released_ = 0;
};

TEST_F(OffloadTest, PacketInAnExternalBufferIsReleasedOnceAfterItsChecksumIsCompleted) {
  rte_mbuf* built = RoutedPacket(small_pool_, IPPROTO_UDP, 100);
  testing::MarkAsPartialChecksum(built);
  ExternalBuffer buffer;
  ASSERT_EQ(Prepare(buffer.Attach(built, small_pool_), EgressCaps{}).count, 1);
  EXPECT_TRUE(RTE_MBUF_HAS_EXTBUF(out_[0]));
  EXPECT_TRUE(testing::L4ChecksumValid(out_[0]));
  testing::FreeAll(out_);
  out_.clear();
  EXPECT_EQ(buffer.released(), 1);
}

// rte_gso mishandles a packet that does not own its buffer (offload.cc, SegmentInSoftware): such a
// GSO packet is refused, and stays the caller's to free.
TEST_F(OffloadTest, GsoPacketInAnExternalBufferIsRefusedAndStaysTheCallers) {
  ExternalBuffer buffer;
  rte_mbuf* packet = buffer.Attach(GsoPacket(kMss), small_pool_);
  EgressPackets prepared = Prepare(packet, EgressCaps{});  // frees `packet` when refused
  EXPECT_EQ(prepared.count, 0);
  EXPECT_EQ(DropReasonName(prepared.drop_reason), DropReasonName(DropReason::kOffloadFailed));
  EXPECT_EQ(buffer.released(), 1);
  EXPECT_EQ(rte_mempool_in_use_count(gso_.direct_pool), 0u);
  EXPECT_EQ(rte_mempool_in_use_count(gso_.indirect_pool), 0u);
}

TEST_F(OffloadTest, PartialChecksumOnAnUnknownProtocolIsDropped) {
  rte_mbuf* packet = RoutedPacket(small_pool_, IPPROTO_UDP, 100);
  Ipv4(packet)->next_proto_id = IPPROTO_SCTP;
  packet->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;

  EgressPackets prepared = Prepare(packet, EgressCaps{});
  EXPECT_EQ(prepared.count, 0);
  EXPECT_EQ(DropReasonName(prepared.drop_reason), DropReasonName(DropReason::kOffloadFailed));
}

}  // namespace
}  // namespace dpcni::dataplane
