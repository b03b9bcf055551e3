#include "uplink/uplink_port.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "netns/netns.h"
#include "tests/dataplane/nat/scratch_netns.h"

namespace dpcni::dataplane {
namespace {

using ::testing::HasSubstr;

// ---- Checks made before DPDK is touched ----

UplinkConfig PciUplink(const std::string& address) {
  UplinkConfig config;
  config.type = UplinkType::kPci;
  config.pci_address = address;
  return config;
}

// A sysfs and a /dev of our own: bus/pci/devices/<address> with its vendor, its `iommu_group` and
// `driver` links pointing where the kernel's would (kernel/iommu_groups/<n>,
// bus/pci/drivers/<driver>), and dev/vfio/<n> for a device on vfio-pci.
class FakeSysfs : public ::testing::Test {
 protected:
  FakeSysfs() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dpcni-sysfs-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    host_ = {(root_ / "sys").string(), (root_ / "dev").string()};
  }
  ~FakeSysfs() override { std::filesystem::remove_all(root_); }

  struct Device {
    std::string driver;             // empty: unbound
    std::string vendor = "0x8086";  // Intel
    std::string iommu_group = "7";  // empty: none
    bool group_device = true;       // dev/vfio/<group> exists when the driver is vfio-pci
  };

  void AddDevice(const std::string& address, const Device& spec) {
    const std::filesystem::path sys = host_.sysfs;
    const std::filesystem::path device = sys / "bus/pci/devices" / address;
    std::filesystem::create_directories(device);
    std::ofstream(device / "vendor") << spec.vendor << "\n";
    if (!spec.iommu_group.empty()) {
      std::filesystem::create_directories(sys / "kernel/iommu_groups" / spec.iommu_group);
      std::filesystem::create_directory_symlink(
          "../../../../kernel/iommu_groups/" + spec.iommu_group, device / "iommu_group");
    }
    if (spec.driver.empty()) return;
    std::filesystem::create_directories(sys / "bus/pci/drivers" / spec.driver);
    std::filesystem::create_directory_symlink("../../../../bus/pci/drivers/" + spec.driver,
                                              device / "driver");
    if (spec.driver == "vfio-pci" && spec.group_device && !spec.iommu_group.empty()) {
      std::filesystem::create_directories(std::filesystem::path(host_.dev) / "vfio");
      std::ofstream(std::filesystem::path(host_.dev) / "vfio" / spec.iommu_group);
    }
  }
  void AddDevice(const std::string& address, const std::string& driver) {
    AddDevice(address, Device{.driver = driver});
  }

  absl::Status Check(const std::string& address) {
    return CheckUplinkDevice(PciUplink(address), host_);
  }

  std::filesystem::path root_;
  HostPaths host_;
};

TEST_F(FakeSysfs, PciDeviceOnVfioPciPasses) {
  AddDevice("0000:03:00.0", "vfio-pci");
  EXPECT_TRUE(Check("0000:03:00.0").ok()) << Check("0000:03:00.0");
}

TEST_F(FakeSysfs, ShortPciAddressIsLookedUpWithItsDomain) {
  AddDevice("0000:03:00.0", "vfio-pci");
  EXPECT_TRUE(Check("03:00.0").ok()) << Check("03:00.0");
}

TEST_F(FakeSysfs, PciDeviceOnAnotherDriverIsRefusedWithTheFix) {
  AddDevice("0000:03:00.0", "ixgbe");
  absl::Status status = Check("0000:03:00.0");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "uplink 0000:03:00.0 is bound to ixgbe, not vfio-pci: bind it with dpdk-devbind.py "
            "--bind=vfio-pci 0000:03:00.0");
}

TEST_F(FakeSysfs, UnboundPciDeviceIsRefusedWithTheFix) {
  AddDevice("0000:03:00.0", "");
  absl::Status status = Check("0000:03:00.0");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              HasSubstr("uplink 0000:03:00.0 is bound to no driver, not vfio-pci"));
  EXPECT_THAT(status.message(), HasSubstr("dpdk-devbind.py --bind=vfio-pci 0000:03:00.0"));
}

TEST_F(FakeSysfs, PciDeviceWithoutAnIommuGroupIsRefusedWithTheFix) {
  AddDevice("0000:03:00.0", Device{.driver = "ixgbe", .iommu_group = ""});
  absl::Status status = Check("0000:03:00.0");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("uplink 0000:03:00.0 has no IOMMU group"));
  EXPECT_THAT(status.message(), HasSubstr("intel_iommu=on or amd_iommu=on"));
}

TEST_F(FakeSysfs, VfioGroupDeviceMissingFromDevIsRefusedWithTheFix) {
  AddDevice("0000:03:00.0", Device{.driver = "vfio-pci", .group_device = false});
  absl::Status status = Check("0000:03:00.0");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              HasSubstr("its group device " + host_.dev + "/vfio/7 does not exist here"));
  EXPECT_THAT(status.message(), HasSubstr("give the agent the node's /dev/vfio"));
}

TEST_F(FakeSysfs, MellanoxNicStaysOnItsKernelDriver) {
  AddDevice("0000:03:00.0", Device{.driver = "mlx5_core", .vendor = "0x15b3"});
  EXPECT_TRUE(Check("0000:03:00.0").ok()) << Check("0000:03:00.0");
}

TEST_F(FakeSysfs, MellanoxNicOnVfioPciIsRefusedWithTheFix) {
  AddDevice("0000:03:00.0", Device{.driver = "vfio-pci", .vendor = "0x15b3"});
  absl::Status status = Check("0000:03:00.0");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "uplink 0000:03:00.0 is a Mellanox NIC bound to vfio-pci, not mlx5_core: DPDK's mlx5 "
            "driver runs beside the kernel's, so bind it back with dpdk-devbind.py "
            "--bind=mlx5_core 0000:03:00.0");
}

TEST_F(FakeSysfs, MissingPciDeviceIsNamedWithItsSysfsPath) {
  AddDevice("0000:03:00.0", "vfio-pci");
  absl::Status status = Check("0000:04:00.0");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("uplink 0000:04:00.0 is not a PCI device on this node"));
  EXPECT_THAT(status.message(), HasSubstr((root_ / "sys/bus/pci/devices/0000:04:00.0").string()));
}

TEST_F(FakeSysfs, MalformedPciAddressIsInvalid) {
  absl::Status status = Check("eth0");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("\"eth0\" is not a PCI address"));
}

TEST_F(FakeSysfs, PciDeviceRefusedBeforeDpdkIsAsked) {
  AddDevice("0000:03:00.0", "ixgbe");
  const uint16_t ports_before = rte_eth_dev_count_total();
  auto port = CreateUplinkPort(PciUplink("0000:03:00.0"), {}, host_);
  EXPECT_EQ(port.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rte_eth_dev_count_total(), ports_before);
}

TEST_F(FakeSysfs, PciDeviceOnVfioPciIsProbed) {
  AddDevice("0000:03:00.0", "vfio-pci");
  // This machine has no such device (and EAL runs with --no-pci): the checks pass and the probe
  // fails.
  auto port = CreateUplinkPort(PciUplink("0000:03:00.0"), {}, host_);
  EXPECT_FALSE(port.ok());
  EXPECT_THAT(port.status().message(), HasSubstr("probe uplink pci 0000:03:00.0"));
}

// ---- What the agent logs of the uplink's offloads ----

TEST(DescribeTxOffloads, SaysWhatTheNicDoesAndWhatIsLeftToSoftware) {
  constexpr uint64_t kChecksums =
      RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  EXPECT_EQ(DescribeTxOffloads(kChecksums | RTE_ETH_TX_OFFLOAD_TCP_TSO),
            "TCP segmentation, and IPv4, TCP and UDP checksums, on the NIC");
  // e1000 (net_e1000_em): checksums, no TSO.
  EXPECT_EQ(DescribeTxOffloads(kChecksums | RTE_ETH_TX_OFFLOAD_MULTI_SEGS),
            "IPv4, TCP and UDP checksums on the NIC; TCP segmentation in software");
  // vmxnet3: TSO and L4 checksums, no IPv4 header checksum.
  EXPECT_EQ(DescribeTxOffloads(RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                               RTE_ETH_TX_OFFLOAD_UDP_CKSUM),
            "TCP segmentation, and TCP and UDP checksums, on the NIC; the other checksums in "
            "software");
  // af_packet, or virtio-net without the features.
  EXPECT_EQ(DescribeTxOffloads(0),
            "TCP segmentation and checksums in software (the NIC offers none)");
}

// ---- Ports on a veth in a network namespace of the test's own ----

constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE 802 local experimental: nothing else sends it
constexpr char kUplinkMac[] = "02:dc:00:00:10:01";
constexpr char kPeerMac[] = "02:dc:00:00:10:02";
constexpr auto kDeadline = std::chrono::seconds(10);

// up0 (the uplink) and its peer up0-peer, both up, in a scratch namespace; `peer_socket` is a raw
// socket on the peer for the test's own frames.
class UplinkOnVeth : public ::testing::TestWithParam<UplinkType> {
 protected:
  void SetUp() override {
    ASSERT_EQ(netns_.Shell(std::string("ip link add up0 address ") + kUplinkMac +
                           " type veth peer name up0-peer address " + kPeerMac +
                           " && ip link set up0 up && ip link set up0-peer up"),
              0);
    pool_ = rte_pktmbuf_pool_create(("uplink-test-" + std::to_string(pool_count_++)).c_str(), 4095,
                                    0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
    ASSERT_TRUE(
        RunInNetns(netns_.path(), [&] {
          peer_socket_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kTestEtherType));
          sockaddr_ll address{};
          address.sll_family = AF_PACKET;
          address.sll_protocol = htons(kTestEtherType);
          address.sll_ifindex = static_cast<int>(::if_nametoindex("up0-peer"));
          if (peer_socket_ < 0 ||
              ::bind(peer_socket_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            return absl::InternalError(std::string("peer socket: ") + std::strerror(errno));
          }
          return absl::OkStatus();
        }).ok());
  }

  void TearDown() override {
    if (peer_socket_ >= 0) ::close(peer_socket_);
    rte_mempool_free(pool_);
  }

  UplinkConfig Config() const {
    UplinkConfig config;
    config.type = GetParam();
    config.interface = "up0";
    return config;
  }

  absl::StatusOr<UplinkPort> Create(const UplinkConfig& config, uint16_t tx_queues = 1) {
    absl::StatusOr<UplinkPort> port = absl::InternalError("not run");
    absl::Status entered = RunInNetns(netns_.path(), [&] {
      port = CreateUplinkPort(config, {pool_, tx_queues, 512, 1500});
      return absl::OkStatus();
    });
    if (!entered.ok()) return entered;
    return port;
  }

  // A frame of the test's own EtherType carrying `marker`.
  static std::vector<uint8_t> Frame(const rte_ether_addr& destination, const rte_ether_addr& source,
                                    const std::string& marker) {
    std::vector<uint8_t> frame(RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN, 0);
    std::memcpy(frame.data(), destination.addr_bytes, RTE_ETHER_ADDR_LEN);
    std::memcpy(frame.data() + RTE_ETHER_ADDR_LEN, source.addr_bytes, RTE_ETHER_ADDR_LEN);
    frame[12] = kTestEtherType >> 8;
    frame[13] = kTestEtherType & 0xff;
    std::memcpy(frame.data() + RTE_ETHER_HDR_LEN, marker.data(), marker.size());
    return frame;
  }

  static rte_ether_addr Mac(const char* text) {
    rte_ether_addr mac{};
    rte_ether_unformat_addr(text, &mac);
    return mac;
  }

  // Whether the peer receives a frame carrying `marker` before the deadline.
  bool PeerReceives(const std::string& marker) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd wait{peer_socket_, POLLIN, 0};
      if (::poll(&wait, 1, 100) <= 0) continue;  // EINTR and timeouts alike: look again
      uint8_t buffer[2048];
      const ssize_t length = ::recv(peer_socket_, buffer, sizeof(buffer), 0);
      if (length > RTE_ETHER_HDR_LEN &&
          std::string(reinterpret_cast<char*>(buffer) + RTE_ETHER_HDR_LEN, marker.size()) ==
              marker) {
        return true;
      }
    }
    return false;
  }

  // Whether the port receives a frame carrying `marker` before the deadline.
  bool PortReceives(uint16_t port_id, const std::string& marker) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    bool found = false;
    while (!found && std::chrono::steady_clock::now() < deadline) {
      rte_mbuf* packets[32];
      const uint16_t received = rte_eth_rx_burst(port_id, 0, packets, 32);
      for (uint16_t i = 0; i < received; ++i) {
        const char* data = rte_pktmbuf_mtod_offset(packets[i], const char*, RTE_ETHER_HDR_LEN);
        if (rte_pktmbuf_data_len(packets[i]) >= RTE_ETHER_HDR_LEN + marker.size() &&
            std::string(data, marker.size()) == marker) {
          found = true;
        }
        rte_pktmbuf_free(packets[i]);
      }
      if (received == 0) ::usleep(1000);
    }
    return found;
  }

  testing::ScratchNetns netns_;
  rte_mempool* pool_ = nullptr;
  int peer_socket_ = -1;
  static inline int pool_count_ = 0;
};

TEST_P(UplinkOnVeth, CreatesAStartedPortWithTheInterfacesMacAndDestroysIt) {
  auto port = Create(Config());
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_TRUE(rte_eth_dev_is_valid_port(port->port_id));
  EXPECT_EQ(port->type, GetParam());
  EXPECT_EQ(port->link_name, "up0");
  EXPECT_EQ(port->device_name,
            GetParam() == UplinkType::kAfPacket ? "net_af_packet0" : "net_af_xdp0");
  const rte_ether_addr interface_mac = Mac(kUplinkMac);
  EXPECT_TRUE(rte_is_same_ether_addr(&port->mac, &interface_mac));
  rte_eth_dev_info info{};
  ASSERT_EQ(rte_eth_dev_info_get(port->port_id, &info), 0);
  EXPECT_EQ(std::string(rte_dev_name(info.device)), port->device_name);

  ASSERT_TRUE(DestroyUplinkPort(*port).ok());
  uint16_t found = 0;
  EXPECT_NE(rte_eth_dev_get_port_by_name(port->device_name.c_str(), &found), 0);
  EXPECT_FALSE(rte_eth_dev_is_valid_port(port->port_id));
}

TEST_P(UplinkOnVeth, CarriesFramesBothWays) {
  auto port = Create(Config());
  ASSERT_TRUE(port.ok()) << port.status();

  // Out of the port, onto the wire: the peer sees it.
  std::vector<uint8_t> out = Frame(Mac(kPeerMac), port->mac, "dpcni uplink out");
  rte_mbuf* packet = rte_pktmbuf_alloc(pool_);
  ASSERT_NE(packet, nullptr);
  std::memcpy(rte_pktmbuf_append(packet, out.size()), out.data(), out.size());
  ASSERT_EQ(rte_eth_tx_burst(port->port_id, 0, &packet, 1), 1);
  EXPECT_TRUE(PeerReceives("dpcni uplink out"));

  // From the wire into the port.
  std::vector<uint8_t> in = Frame(port->mac, Mac(kPeerMac), "dpcni uplink in");
  ASSERT_EQ(::send(peer_socket_, in.data(), in.size(), 0), static_cast<ssize_t>(in.size()))
      << std::strerror(errno);
  EXPECT_TRUE(PortReceives(port->port_id, "dpcni uplink in"));

  EXPECT_TRUE(DestroyUplinkPort(*port).ok());
}

TEST_P(UplinkOnVeth, MissingInterfaceIsRefusedBeforeDpdkIsAsked) {
  UplinkConfig config = Config();
  config.interface = "eth9";
  const uint16_t ports_before = rte_eth_dev_count_total();
  auto port = Create(config);
  EXPECT_EQ(port.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(port.status().message(),
            "uplink interface eth9 does not exist in this network namespace");
  EXPECT_EQ(rte_eth_dev_count_total(), ports_before);
}

TEST_P(UplinkOnVeth, MoreThanOneWorkerIsRefusedNamingTheFix) {
  const uint16_t ports_before = rte_eth_dev_count_total();
  auto port = Create(Config(), /*tx_queues=*/2);
  EXPECT_EQ(port.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(port.status().message(), HasSubstr("use one worker"));
  EXPECT_EQ(rte_eth_dev_count_total(), ports_before);
}

INSTANTIATE_TEST_SUITE_P(KernelInterfaces, UplinkOnVeth,
                         ::testing::Values(UplinkType::kAfPacket, UplinkType::kAfXdp),
                         [](const ::testing::TestParamInfo<UplinkType>& info) {
                           return info.param == UplinkType::kAfPacket ? "AfPacket" : "AfXdp";
                         });

}  // namespace
}  // namespace dpcni::dataplane
