// The virtio-net header <-> mbuf offload metadata conversions of the tap backend (no EAL, no tap).
#include "port/vnet_header.h"

#include <rte_mbuf_core.h>

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

constexpr uint16_t kEthernet = 14;
constexpr uint16_t kIpv4 = 20;
constexpr uint16_t kIpv6 = 40;
constexpr uint16_t kTcp = 32;  // with timestamps, as Linux sends

FrameLayout Tcp4() {
  return {.l3 = FrameLayout::L3::kIpv4,
          .l4 = FrameLayout::L4::kTcp,
          .l2_len = kEthernet,
          .l3_len = kIpv4};
}

FrameLayout Udp4() {
  return {.l3 = FrameLayout::L3::kIpv4,
          .l4 = FrameLayout::L4::kUdp,
          .l2_len = kEthernet,
          .l3_len = kIpv4};
}

FrameLayout Tcp6() {
  return {.l3 = FrameLayout::L3::kIpv6,
          .l4 = FrameLayout::L4::kTcp,
          .l2_len = kEthernet,
          .l3_len = kIpv6};
}

// What the engine's RequestSegmentation leaves on an IPv4 TCP packet for a port that segments.
TxRequest Tso4Request() {
  return {.ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM,
          .l2_len = kEthernet,
          .l3_len = kIpv4,
          .l4_len = kTcp,
          .tso_segsz = 1448};
}

// What the pod's kernel writes for a TCP GSO packet (virtio_net_hdr_from_skb).
virtio_net_hdr KernelGso(uint8_t gso_type, uint16_t l3_len, uint16_t mss) {
  return {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
          .gso_type = gso_type,
          .hdr_len = static_cast<uint16_t>(kEthernet + l3_len + kTcp),
          .gso_size = mss,
          .csum_start = static_cast<uint16_t>(kEthernet + l3_len),
          .csum_offset = 16};
}

TEST(VnetHeaderTest, APlainFrameCarriesNoMetadata) {
  const virtio_net_hdr plain{};
  EXPECT_TRUE(VnetHeaderIsPlain(plain));
  const RxOffload offload = RxOffloadFromVnetHeader(plain, Tcp4());
  EXPECT_TRUE(offload.valid);
  EXPECT_EQ(offload.ol_flags, 0u);
  EXPECT_EQ(offload.tso_segsz, 0);
  EXPECT_FALSE(offload.finish_checksum_here);
}

TEST(VnetHeaderTest, AGsoPacketBecomesLroWithItsMssAndAPartialChecksum) {
  for (const auto& [type, layout] :
       {std::pair{VIRTIO_NET_HDR_GSO_TCPV4, Tcp4()}, std::pair{VIRTIO_NET_HDR_GSO_TCPV6, Tcp6()}}) {
    const RxOffload offload = RxOffloadFromVnetHeader(KernelGso(type, layout.l3_len, 1448), layout);
    EXPECT_TRUE(offload.valid);
    // What the virtio PMD makes of the same header on vhost-net, and what HasOffloadMetadata sees.
    EXPECT_EQ(offload.ol_flags, RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE);
    EXPECT_EQ(offload.tso_segsz, 1448);
    EXPECT_FALSE(offload.finish_checksum_here);
  }
}

TEST(VnetHeaderTest, APartialTcpOrUdpChecksumIsLeftToTheEngine) {
  const virtio_net_hdr tcp{
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16};
  EXPECT_EQ(RxOffloadFromVnetHeader(tcp, Tcp4()).ol_flags, RTE_MBUF_F_RX_L4_CKSUM_NONE);
  const virtio_net_hdr udp{
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6};
  const RxOffload offload = RxOffloadFromVnetHeader(udp, Udp4());
  EXPECT_EQ(offload.ol_flags, RTE_MBUF_F_RX_L4_CKSUM_NONE);
  EXPECT_FALSE(offload.finish_checksum_here);
}

TEST(VnetHeaderTest, APartialChecksumElsewhereIsFinishedOnRx) {
  // An inner header's checksum (a tunnel), or another protocol's: the engine would not finish it.
  const virtio_net_hdr inner{
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 84, .csum_offset = 6};
  RxOffload offload = RxOffloadFromVnetHeader(inner, Udp4());
  EXPECT_TRUE(offload.valid);
  EXPECT_TRUE(offload.finish_checksum_here);
  EXPECT_EQ(offload.ol_flags, 0u);
  const virtio_net_hdr other{
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 2};
  offload =
      RxOffloadFromVnetHeader(other, {.l3 = FrameLayout::L3::kIpv4, .l2_len = 14, .l3_len = 20});
  EXPECT_TRUE(offload.finish_checksum_here);
}

TEST(VnetHeaderTest, AVerifiedChecksumIsGoodForTcpAndUdpOnly) {
  const virtio_net_hdr valid{.flags = VIRTIO_NET_HDR_F_DATA_VALID};
  EXPECT_EQ(RxOffloadFromVnetHeader(valid, Tcp4()).ol_flags, RTE_MBUF_F_RX_L4_CKSUM_GOOD);
  EXPECT_EQ(RxOffloadFromVnetHeader(valid, {.l3 = FrameLayout::L3::kIpv4}).ol_flags, 0u);
}

TEST(VnetHeaderTest, GsoWeNeverAnnouncedIsInvalid) {
  // TSO with ECN, UDP fragmentation offload, no MSS, a type that does not match the frame, and GSO
  // without the partial checksum that segmentation rewrites.
  virtio_net_hdr ecn = KernelGso(VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, kIpv4, 1448);
  EXPECT_FALSE(RxOffloadFromVnetHeader(ecn, Tcp4()).valid);
  virtio_net_hdr ufo = KernelGso(VIRTIO_NET_HDR_GSO_UDP, kIpv4, 1472);
  ufo.csum_offset = 6;
  EXPECT_FALSE(RxOffloadFromVnetHeader(ufo, Udp4()).valid);
  EXPECT_FALSE(
      RxOffloadFromVnetHeader(KernelGso(VIRTIO_NET_HDR_GSO_TCPV4, kIpv4, 0), Tcp4()).valid);
  EXPECT_FALSE(
      RxOffloadFromVnetHeader(KernelGso(VIRTIO_NET_HDR_GSO_TCPV6, kIpv4, 1448), Tcp4()).valid);
  virtio_net_hdr unchecksummed = KernelGso(VIRTIO_NET_HDR_GSO_TCPV4, kIpv4, 1448);
  unchecksummed.flags = 0;
  EXPECT_FALSE(RxOffloadFromVnetHeader(unchecksummed, Tcp4()).valid);
}

TEST(VnetHeaderTest, NoTxRequestWritesAPlainHeader) {
  const TxHeader header = VnetHeaderFromTxRequest({.ol_flags = RTE_MBUF_F_TX_IPV4});
  EXPECT_TRUE(header.valid);
  EXPECT_TRUE(VnetHeaderIsPlain(header.header));
  EXPECT_EQ(header.header.csum_start, 0);
}

TEST(VnetHeaderTest, SegmentationBecomesKernelGsoWithThePartialTcpChecksum) {
  const TxHeader header = VnetHeaderFromTxRequest(Tso4Request());
  ASSERT_TRUE(header.valid);
  EXPECT_EQ(header.header.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
  EXPECT_EQ(header.header.gso_size, 1448);
  EXPECT_EQ(header.header.hdr_len, kEthernet + kIpv4 + kTcp);
  EXPECT_EQ(header.header.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  EXPECT_EQ(header.header.csum_start, kEthernet + kIpv4);
  EXPECT_EQ(header.header.csum_offset, 16);

  const TxHeader v6 =
      VnetHeaderFromTxRequest({.ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_SEG,
                               .l2_len = kEthernet,
                               .l3_len = kIpv6,
                               .l4_len = kTcp,
                               .tso_segsz = 1428});
  ASSERT_TRUE(v6.valid);
  EXPECT_EQ(v6.header.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
  EXPECT_EQ(v6.header.csum_start, kEthernet + kIpv6);
}

TEST(VnetHeaderTest, ChecksumRequestsBecomeNeedsCsumAtTheL4Field) {
  const TxHeader tcp = VnetHeaderFromTxRequest(
      {.ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, .l2_len = 14, .l3_len = 20});
  ASSERT_TRUE(tcp.valid);
  EXPECT_EQ(tcp.header.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  EXPECT_EQ(tcp.header.gso_type, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_EQ(tcp.header.csum_start, 34);
  EXPECT_EQ(tcp.header.csum_offset, 16);
  const TxHeader udp = VnetHeaderFromTxRequest(
      {.ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM, .l2_len = 18, .l3_len = 24});
  ASSERT_TRUE(udp.valid);
  EXPECT_EQ(udp.header.csum_start, 42);
  EXPECT_EQ(udp.header.csum_offset, 6);
}

TEST(VnetHeaderTest, RequestsThePortNeverOfferedAreInvalid) {
  EXPECT_FALSE(
      VnetHeaderFromTxRequest({.ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_SCTP_CKSUM}).valid);
  EXPECT_FALSE(VnetHeaderFromTxRequest({.ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG,
                                        .l2_len = 14,
                                        .l3_len = 20,
                                        .l4_len = kTcp})
                   .valid);  // no MSS
  EXPECT_FALSE(VnetHeaderFromTxRequest({.ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG,
                                        .l2_len = 14,
                                        .l3_len = 20,
                                        .tso_segsz = 1448})
                   .valid);  // no TCP header length
}

TEST(VnetHeaderTest, WhatTxWritesRxReadsBackAsTheSameGsoPacket) {
  // A GSO packet the engine forwards from one vnet tap to another keeps its MSS end to end.
  const TxHeader written = VnetHeaderFromTxRequest(Tso4Request());
  ASSERT_TRUE(written.valid);
  const RxOffload read = RxOffloadFromVnetHeader(written.header, Tcp4());
  EXPECT_TRUE(read.valid);
  EXPECT_EQ(read.ol_flags, RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE);
  EXPECT_EQ(read.tso_segsz, 1448);
}

}  // namespace
}  // namespace dpcni::dataplane
