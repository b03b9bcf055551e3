// The tap backend's vnet_tap driver on a real tap in a scratch network namespace (root): the tap it
// makes, GSO packets both ways as one multi-segment packet, partial checksums, and what it leaves.
// The kernel side is a packet socket with PACKET_VNET_HDR on the tap, which sends and sees frames
// with their virtio-net header as the pod's stack would.
#include "port/vnet_tap.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "netns/netns.h"
#include "port/kernel_ports.h"
#include "port/vnet_header.h"
#include "tests/dataplane/nat/scratch_netns.h"

namespace dpcni::dataplane {
namespace {

constexpr char kIfname[] = "eth0";
constexpr auto kDeadline = std::chrono::seconds(5);
constexpr uint16_t kMss = 1448;
constexpr uint32_t kGsoPayload = 9000;
constexpr uint16_t kHeaders = RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr);

const rte_ether_addr kPodMac{{0x02, 0xdc, 0x0a, 0x01, 0x00, 0x01}};
const rte_ether_addr kGatewayMac{{0x02, 0xdc, 0x00, 0x00, 0x00, 0x01}};

// A TCP/IPv4 frame from the pod to the gateway's MAC with `payload` bytes of 0x5a, its checksum
// field holding the pseudo-header sum (with the TCP length, as Linux leaves a partial checksum).
std::vector<uint8_t> TcpFrame(uint32_t payload) {
  std::vector<uint8_t> frame(kHeaders + payload, 0x5a);
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(frame.data());
  ethernet->dst_addr = kGatewayMac;
  ethernet->src_addr = kPodMac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  std::memset(ip, 0, sizeof(*ip) + sizeof(rte_tcp_hdr));
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr) + payload);
  ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_TCP;
  ip->src_addr = RTE_BE32(RTE_IPV4(10, 1, 0, 1));
  ip->dst_addr = RTE_BE32(RTE_IPV4(10, 1, 0, 2));
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  tcp->src_port = RTE_BE16(40000);
  tcp->dst_port = RTE_BE16(5201);
  tcp->sent_seq = RTE_BE32(1000);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = RTE_TCP_ACK_FLAG;
  tcp->rx_win = RTE_BE16(65535);
  tcp->cksum = rte_ipv4_phdr_cksum(ip, 0);
  return frame;
}

class VnetTapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // No IPv6: its router solicitations would be frames the test did not send.
    ASSERT_EQ(netns_.Shell("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                           "net.ipv6.conf.default.disable_ipv6=1"),
              0);
    pool_ = rte_pktmbuf_pool_create(("vnet-tap-test-" + std::to_string(pool_count_++)).c_str(),
                                    1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
    ports_ = std::make_unique<KernelPorts>(pool_, 1, 512, /*rx_interrupts=*/true);
    absl::StatusOr<KernelPort> port =
        ports_->Create(PortBackend::kTap, {netns_.path(), kIfname, kPodMac, 1500});
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    ASSERT_EQ(netns_.Shell(std::string("ip link set ") + kIfname + " up"), 0);
    ASSERT_TRUE(
        RunInNetns(netns_.path(), [&] {
          socket_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
          const int on = 1;
          sockaddr_ll address{};
          address.sll_family = AF_PACKET;
          address.sll_protocol = htons(ETH_P_IP);
          address.sll_ifindex = static_cast<int>(::if_nametoindex(kIfname));
          if (socket_ < 0 ||
              ::setsockopt(socket_, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)) != 0 ||
              ::bind(socket_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            return absl::InternalError(std::string("packet socket: ") + std::strerror(errno));
          }
          return absl::OkStatus();
        }).ok());
  }

  void TearDown() override {
    if (socket_ >= 0) ::close(socket_);
    if (ports_ != nullptr && !port_.device_name.empty()) {
      EXPECT_TRUE(ports_->Destroy(port_, netns_.path(), kIfname).ok());
    }
    rte_mempool_free(pool_);
  }

  // The pod's stack sends `frame` with `header`, as its TCP would.
  void KernelSends(const virtio_net_hdr& header, const std::vector<uint8_t>& frame) {
    std::vector<uint8_t> buffer(kVnetHeaderSize + frame.size());
    std::memcpy(buffer.data(), &header, kVnetHeaderSize);
    std::memcpy(buffer.data() + kVnetHeaderSize, frame.data(), frame.size());
    ASSERT_EQ(::send(socket_, buffer.data(), buffer.size(), 0), static_cast<ssize_t>(buffer.size()))
        << std::strerror(errno);
  }

  // The first packet the port receives before the deadline, or nullptr.
  rte_mbuf* PortReceives() {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      rte_mbuf* packet = nullptr;
      if (rte_eth_rx_burst(port_.port_id, 0, &packet, 1) == 1) return packet;
      ::usleep(1000);
    }
    return nullptr;
  }

  // The first frame the pod's stack receives (not one it sent) with its header, or an empty one.
  std::vector<uint8_t> KernelReceives(virtio_net_hdr& header) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    std::vector<uint8_t> buffer(kVnetHeaderSize + 65536);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd wait{socket_, POLLIN, 0};
      if (::poll(&wait, 1, 100) <= 0) continue;
      sockaddr_ll from{};
      socklen_t from_length = sizeof(from);
      const ssize_t length = ::recvfrom(socket_, buffer.data(), buffer.size(), 0,
                                        reinterpret_cast<sockaddr*>(&from), &from_length);
      if (length < static_cast<ssize_t>(kVnetHeaderSize) || from.sll_pkttype == PACKET_OUTGOING) {
        continue;
      }
      std::memcpy(&header, buffer.data(), kVnetHeaderSize);
      return {buffer.begin() + kVnetHeaderSize, buffer.begin() + length};
    }
    return {};
  }

  rte_eth_stats Stats() const {
    rte_eth_stats stats{};
    rte_eth_stats_get(port_.port_id, &stats);
    return stats;
  }

  // A packet of the pool holding `frame`, chained over as many mbufs as it needs.
  rte_mbuf* Packet(const std::vector<uint8_t>& frame) {
    rte_mbuf* head = rte_pktmbuf_alloc(pool_);
    size_t offset = 0;
    rte_mbuf* last = head;
    while (head != nullptr && offset < frame.size()) {
      rte_mbuf* segment = offset == 0 ? head : rte_pktmbuf_alloc(pool_);
      if (segment == nullptr) break;
      const size_t length = std::min<size_t>(frame.size() - offset, rte_pktmbuf_tailroom(segment));
      std::memcpy(rte_pktmbuf_append(segment, static_cast<uint16_t>(length)), &frame[offset],
                  length);
      if (segment != head) {
        last->next = segment;
        head->nb_segs++;
        head->pkt_len += segment->data_len;
        last = segment;
      }
      offset += length;
    }
    return head;
  }

  testing::ScratchNetns netns_;
  rte_mempool* pool_ = nullptr;
  std::unique_ptr<KernelPorts> ports_;
  KernelPort port_;
  int socket_ = -1;
  static inline int pool_count_ = 0;
};

TEST_F(VnetTapTest, MakesAPersistentVnetTapWithThePodsMacAndRxInterrupts) {
  EXPECT_EQ(port_.device_name.rfind(kVnetTapDriver, 0), 0u) << port_.device_name;
  // As iproute2 shows a tap's flags (sysfs would show the test's own namespace): one queue
  // attached, ours, shared by Rx and Tx.
  EXPECT_EQ(netns_.Shell(std::string("ip -d link show ") + kIfname +
                         " | grep -q 'tun type tap pi off vnet_hdr on multi_queue numqueues 1 "
                         "numdisabled 0 persist on'"),
            0);
  EXPECT_EQ(netns_.Shell(std::string("ip link show ") + kIfname + " | grep -q 'link/ether " +
                         FormatMac(kPodMac) + "'"),
            0);
  EXPECT_GE(rte_eth_dev_rx_intr_ctl_q_get_fd(port_.port_id, 0), 0);
  rte_eth_dev_info info{};
  ASSERT_EQ(rte_eth_dev_info_get(port_.port_id, &info), 0);
  EXPECT_NE(info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO, 0u);
  EXPECT_NE(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_LRO, 0u);
}

TEST_F(VnetTapTest, APartialChecksumAtAnOddPlaceIsFinishedOnRx) {
  // NEEDS_CSUM over the TCP payload's first bytes rather than at the TCP header: not a checksum the
  // engine finishes, so the driver does, over csum_start to the end.
  std::vector<uint8_t> frame = TcpFrame(100);
  const uint16_t start = kHeaders + 4;
  frame[start] = 0;
  frame[start + 1] = 0;
  KernelSends({.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = start, .csum_offset = 0}, frame);
  rte_mbuf* packet = PortReceives();
  ASSERT_NE(packet, nullptr);
  EXPECT_EQ(packet->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0u);
  // The ones' complement sum over the finished range is all ones.
  uint16_t sum = 0;
  ASSERT_EQ(rte_raw_cksum_mbuf(packet, start, packet->pkt_len - start, &sum), 0);
  EXPECT_EQ(sum, 0xffff);
  rte_pktmbuf_free(packet);
}

TEST_F(VnetTapTest, ATsoPacketLeavesWholeAsKernelGsoWithLinuxsPseudoHeaderSum) {
  const std::vector<uint8_t> frame = TcpFrame(kGsoPayload);
  rte_mbuf* packet = Packet(frame);
  ASSERT_NE(packet, nullptr);
  ASSERT_GT(packet->nb_segs, 1);
  // As the engine's RequestSegmentation leaves it: DPDK's TSO pseudo-header sum, without length.
  auto* ip = rte_pktmbuf_mtod_offset(packet, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
  packet->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
  packet->l2_len = RTE_ETHER_HDR_LEN;
  packet->l3_len = sizeof(rte_ipv4_hdr);
  packet->l4_len = sizeof(rte_tcp_hdr);
  packet->tso_segsz = kMss;
  rte_pktmbuf_mtod_offset(packet, rte_tcp_hdr*, RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr))->cksum =
      rte_ipv4_phdr_cksum(ip, packet->ol_flags);
  ASSERT_EQ(rte_eth_tx_burst(port_.port_id, 0, &packet, 1), 1);

  virtio_net_hdr header{};
  const std::vector<uint8_t> received = KernelReceives(header);
  ASSERT_EQ(received.size(), frame.size()) << "one frame of the whole packet";
  EXPECT_EQ(header.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
  EXPECT_EQ(header.gso_size, kMss);
  EXPECT_EQ(header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  // Byte for byte what TcpFrame made, whose checksum field holds Linux's sum (with the length).
  EXPECT_EQ(received, frame);
  EXPECT_EQ(Stats().opackets, 1u);
  EXPECT_EQ(Stats().obytes, frame.size());
  EXPECT_EQ(Stats().oerrors, 0u);
}

TEST_F(VnetTapTest, AChecksumRequestLeavesAsNeedsCsumAndAPlainPacketAsItIs) {
  std::vector<uint8_t> frame = TcpFrame(200);
  rte_mbuf* packet = Packet(frame);
  ASSERT_NE(packet, nullptr);
  packet->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
  packet->l2_len = RTE_ETHER_HDR_LEN;
  packet->l3_len = sizeof(rte_ipv4_hdr);
  ASSERT_EQ(rte_eth_tx_burst(port_.port_id, 0, &packet, 1), 1);
  virtio_net_hdr header{};
  EXPECT_EQ(KernelReceives(header), frame);
  EXPECT_EQ(header.gso_type, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_EQ(header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM);
  EXPECT_EQ(header.csum_start, RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr));
  EXPECT_EQ(header.csum_offset, 16);

  packet = Packet(frame);
  ASSERT_NE(packet, nullptr);
  ASSERT_EQ(rte_eth_tx_burst(port_.port_id, 0, &packet, 1), 1);
  header = {};
  EXPECT_EQ(KernelReceives(header), frame);
  EXPECT_EQ(header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, 0);
  EXPECT_EQ(Stats().opackets, 2u);
}

TEST_F(VnetTapTest, RemovingThePortLeavesThePersistentTapAndGivesItsMbufsBack) {
  const unsigned in_use = rte_mempool_in_use_count(pool_);
  EXPECT_EQ(in_use, VnetTapRxHeldMbufs(RTE_MBUF_DEFAULT_DATAROOM));
  ASSERT_TRUE(ports_->Remove(port_, netns_.path()).ok());
  EXPECT_EQ(rte_mempool_in_use_count(pool_), 0u);
  EXPECT_EQ(netns_.Shell(std::string("ip link show ") + kIfname + " >/dev/null"), 0)
      << "the pod's tap went with the port";
  // Attached again, as a restarted agent does, and deleted for good.
  absl::StatusOr<KernelPort> again = ports_->Create(
      PortBackend::kTap, {netns_.path(), kIfname, kPodMac, 1500, /*keep_interface=*/true});
  ASSERT_TRUE(again.ok()) << again.status();
  port_ = *again;
}

TEST_F(VnetTapTest, ABadDevargsProbeNamesTheFix) {
  const std::string devargs = VnetTapDevargs("", "02:dc:00:00:00:09");
  EXPECT_NE(rte_eal_hotplug_add("vdev", "vnet_tap_bad0", devargs.c_str()), 0);
  EXPECT_NE(VnetTapLastProbeError().find("need iface="), std::string::npos)
      << VnetTapLastProbeError();
}

// Two pods' taps and the test as the dataplane between them: a real TCP connection from one
// netns's stack to the other's, whose bulk data the kernel hands over as GSO packets.
class VnetTapPairTest : public ::testing::Test {
 protected:
  static constexpr rte_ether_addr kMacA{{0x02, 0xdc, 0x0a, 0x01, 0x00, 0x01}};
  static constexpr rte_ether_addr kMacB{{0x02, 0xdc, 0x0a, 0x01, 0x00, 0x02}};

  void SetUp() override {
    pool_ = rte_pktmbuf_pool_create(("vnet-tap-pair-" + std::to_string(pool_count_++)).c_str(),
                                    4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
    ports_ = std::make_unique<KernelPorts>(pool_, 1, 512, /*rx_interrupts=*/false);
    for (auto [netns, mac, port, address, peer, peer_mac] :
         {std::tuple{&a_, kMacA, &port_a_, "10.1.0.1", "10.1.0.2", kMacB},
          std::tuple{&b_, kMacB, &port_b_, "10.1.0.2", "10.1.0.1", kMacA}}) {
      absl::StatusOr<KernelPort> created =
          ports_->Create(PortBackend::kTap, {netns->path(), kIfname, mac, 1500});
      ASSERT_TRUE(created.ok()) << created.status();
      *port = *created;
      ASSERT_EQ(netns->Shell(std::string("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && ip link "
                                         "set lo up && ip link set eth0 up && ip addr add ") +
                             address + "/24 dev eth0 && ip neigh add " + peer + " lladdr " +
                             FormatMac(peer_mac) + " dev eth0 nud permanent"),
                0);
    }
  }

  void TearDown() override {
    for (auto [netns, port] : {std::pair{&a_, &port_a_}, std::pair{&b_, &port_b_}}) {
      if (!port->device_name.empty()) {
        EXPECT_TRUE(ports_->Destroy(*port, netns->path(), kIfname).ok());
      }
    }
    rte_mempool_free(pool_);
  }

  // What the engine's PrepareForEgress does for a tap port, for plain Ethernet/IPv4 frames: a GSO
  // packet leaves whole asking for segmentation, a partial checksum asking for the checksum.
  static void ToEgress(rte_mbuf* packet) {
    const uint64_t rx = packet->ol_flags;
    packet->ol_flags = 0;
    packet->l2_len = RTE_ETHER_HDR_LEN;
    auto* ip = rte_pktmbuf_mtod_offset(packet, rte_ipv4_hdr*, RTE_ETHER_HDR_LEN);
    packet->l3_len = rte_ipv4_hdr_len(ip);
    if ((rx & RTE_MBUF_F_RX_LRO) != 0) {
      const auto* tcp =
          rte_pktmbuf_mtod_offset(packet, const rte_tcp_hdr*, packet->l2_len + packet->l3_len);
      packet->l4_len = static_cast<uint64_t>(tcp->data_off >> 4) * 4;
      packet->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
    } else if ((rx & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_NONE) {
      packet->ol_flags =
          RTE_MBUF_F_TX_IPV4 |
          (ip->next_proto_id == IPPROTO_TCP ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM);
    }
  }

  // Moves packets both ways until `done`; notes the largest packet from A and how many were GSO.
  void Forward(const std::atomic<bool>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done.load() && std::chrono::steady_clock::now() < deadline) {
      bool idle = true;
      for (auto [from, to] : {std::pair{&port_a_, &port_b_}, std::pair{&port_b_, &port_a_}}) {
        rte_mbuf* packets[32];
        const uint16_t count = rte_eth_rx_burst(from->port_id, 0, packets, 32);
        idle &= count == 0;
        for (uint16_t i = 0; i < count; ++i) {
          if (from == &port_a_) {
            largest_from_a_ = std::max(largest_from_a_, packets[i]->pkt_len);
            gso_from_a_ += (packets[i]->ol_flags & RTE_MBUF_F_RX_LRO) != 0 ? 1 : 0;
          }
          ToEgress(packets[i]);
        }
        const uint16_t sent = rte_eth_tx_burst(to->port_id, 0, packets, count);
        for (uint16_t i = sent; i < count; ++i) rte_pktmbuf_free(packets[i]);
      }
      if (idle) ::usleep(20);
    }
  }

  testing::ScratchNetns a_;
  testing::ScratchNetns b_;
  rte_mempool* pool_ = nullptr;
  std::unique_ptr<KernelPorts> ports_;
  KernelPort port_a_;
  KernelPort port_b_;
  uint32_t largest_from_a_ = 0;
  uint64_t gso_from_a_ = 0;
  static inline int pool_count_ = 0;
};

TEST_F(VnetTapPairTest, BulkTcpCrossesAsWholeGsoPacketsAndArrivesIntact) {
  constexpr size_t kBytes = 8 << 20;
  int listener = -1;
  ASSERT_TRUE(RunInNetns(b_.path(), [&] {
                listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_in address{};
                address.sin_family = AF_INET;
                address.sin_port = htons(5201);
                address.sin_addr.s_addr = htonl(INADDR_ANY);
                if (listener < 0 ||
                    ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
                    ::listen(listener, 1) != 0) {
                  return absl::InternalError(std::strerror(errno));
                }
                return absl::OkStatus();
              }).ok());
  std::atomic<bool> done = false;
  size_t received = 0;
  bool intact = true;
  std::thread receiver([&] {
    const int connection = ::accept(listener, nullptr, nullptr);
    std::vector<uint8_t> buffer(1 << 16);
    ssize_t length = 0;
    while (connection >= 0 && (length = ::read(connection, buffer.data(), buffer.size())) > 0) {
      for (ssize_t i = 0; i < length; ++i)
        intact &= buffer[i] == static_cast<uint8_t>(received + i);
      received += static_cast<size_t>(length);
    }
    if (connection >= 0) ::close(connection);
    done = true;
  });
  std::thread sender([&] {
    int client = -1;
    RunInNetns(a_.path(), [&] {
      client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      return absl::OkStatus();
    }).IgnoreError();
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(5201);
    server.sin_addr.s_addr = htonl(RTE_IPV4(10, 1, 0, 2));
    if (client >= 0 &&
        ::connect(client, reinterpret_cast<sockaddr*>(&server), sizeof(server)) == 0) {
      std::vector<uint8_t> data(kBytes);
      for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
      for (size_t sent = 0; sent < data.size();) {
        const ssize_t length = ::write(client, data.data() + sent, data.size() - sent);
        if (length <= 0) break;
        sent += static_cast<size_t>(length);
      }
    }
    if (client >= 0) ::close(client);
  });
  Forward(done);
  sender.join();
  if (!done) ::shutdown(listener, SHUT_RDWR);  // the receiver never connected: unblock it
  receiver.join();
  ::close(listener);
  EXPECT_EQ(received, kBytes);
  EXPECT_TRUE(intact);
  EXPECT_GT(gso_from_a_, 0u);
  EXPECT_GT(largest_from_a_, 10'000u) << "the sender's frames crossed MTU-sized";
  rte_eth_stats stats{};
  rte_eth_stats_get(port_a_.port_id, &stats);
  EXPECT_EQ(stats.ierrors, 0u);
  rte_eth_stats_get(port_b_.port_id, &stats);
  EXPECT_EQ(stats.oerrors, 0u);
}

}  // namespace
}  // namespace dpcni::dataplane
