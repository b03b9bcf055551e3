#include "uplink/uplink_port.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_pci.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "netlink/interface.h"

namespace dpcni::dataplane {
namespace {

constexpr char kVfioDriver[] = "vfio-pci";

// af_packet ring geometry. A 2 KiB frame holds a 1518-byte Ethernet frame (1500 MTU, VLAN tag)
// after the 32-byte TPACKET_V2 header, and its data part (2016 bytes) still fits the data room of a
// default mbuf, which the PMD requires. Two frames per page-sized block.
constexpr unsigned kAfPacketBlockSize = 4096;
constexpr unsigned kAfPacketFrameSize = 2048;

// af_packet reads what the kernel received after GRO (and a NIC's LRO, or hardware GRO) merged a
// flow's segments: up to 64 KiB in one frame, which a 2 KiB ring slot truncates (tp_snaplen <
// tp_len) and the engine then drops as malformed. Bulk TCP into the node crawled (measured on a
// veth with GRO on: 0.26 Mbit/s instead of Gbit/s). Sizing the slots for 64 KiB would need
// multi-segment mbufs from the PMD, which it does not make, so the agent turns both off on the
// interface it takes, through the ethtool ioctl (there is no netlink call for features in libnl).
// Turning GRO off turns hardware GRO off too (netdev_fix_features). The kernel does not use the
// interface's receive path once the dataplane owns it, so this costs it nothing; the settings
// stay after the agent stops. Returns what was turned off ("GRO", "LRO"), empty when both were off.
absl::StatusOr<std::vector<std::string>> TurnOffReceiveMerging(const std::string& interface) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, "socket for the ethtool ioctl");
  }
  auto ethtool = [&](uint32_t command, uint32_t* data) {
    ethtool_value value{.cmd = command, .data = *data};
    ifreq request{};
    std::strncpy(request.ifr_name, interface.c_str(), IFNAMSIZ - 1);
    request.ifr_data = reinterpret_cast<char*>(&value);
    const int result = ::ioctl(fd, SIOCETHTOOL, &request);
    *data = value.data;
    return result == 0 ? 0 : errno;
  };
  std::vector<std::string> turned_off;
  absl::Status status;
  uint32_t gro = 0;
  if (int error = ethtool(ETHTOOL_GGRO, &gro); error != 0) {
    status = absl::ErrnoToStatus(error, "read GRO");
  } else if (gro != 0) {
    uint32_t off = 0;
    if (int error = ethtool(ETHTOOL_SGRO, &off); error != 0) {
      status = absl::ErrnoToStatus(error, "turn GRO off");
    } else {
      turned_off.push_back("GRO");
    }
  }
  uint32_t flags = 0;
  // A device without the legacy flags (EOPNOTSUPP) has no LRO to turn off.
  if (int error = ethtool(ETHTOOL_GFLAGS, &flags);
      status.ok() && error == 0 && (flags & ETH_FLAG_LRO) != 0) {
    flags &= ~static_cast<uint32_t>(ETH_FLAG_LRO);
    if (int set_error = ethtool(ETHTOOL_SFLAGS, &flags); set_error != 0) {
      status = absl::ErrnoToStatus(set_error, "turn LRO off");
    } else {
      turned_off.push_back("LRO");
    }
  }
  ::close(fd);
  if (!status.ok()) {
    return absl::Status(
        status.code(),
        absl::StrCat("uplink af_packet ", interface, ": ", status.message(),
                     ": af_packet would see merged frames larger than its ring slots; turn them "
                     "off with `ethtool -K ",
                     interface, " gro off lro off`, or use af_xdp or pci"));
  }
  return turned_off;
}

// "0000:03:00.0" for "0000:03:00.0" or "03:00.0": the form sysfs and DPDK's device names use.
absl::StatusOr<std::string> CanonicalPciAddress(const std::string& address) {
  rte_pci_addr parsed{};
  if (rte_pci_addr_parse(address.c_str(), &parsed) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("uplink pci_address \"", address, "\" is not a PCI address (0000:03:00.0)"));
  }
  char name[PCI_PRI_STR_SIZE];
  rte_pci_device_name(&parsed, name, sizeof(name));
  return std::string(name);
}

absl::Status CheckInterface(const std::string& interface) {
  if (::if_nametoindex(interface.c_str()) == 0) {
    return absl::NotFoundError(
        absl::StrCat("uplink interface ", interface, " does not exist in this network namespace"));
  }
  return absl::OkStatus();
}

// The PCI vendor of NVIDIA's Mellanox NICs: DPDK's mlx5 driver works beside the kernel's mlx5_core
// (bifurcated), over rdma-core, so these NICs stay on mlx5_core where every other one is given to
// vfio-pci.
constexpr char kMellanoxVendor[] = "0x15b3";
constexpr char kMellanoxDriver[] = "mlx5_core";

std::string FirstLine(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

absl::Status CheckPciDevice(const std::string& address, const HostPaths& host) {
  const std::filesystem::path device =
      std::filesystem::path(host.sysfs) / "bus" / "pci" / "devices" / address;
  std::error_code error;
  if (!std::filesystem::exists(device, error)) {
    return absl::NotFoundError(absl::StrCat("uplink ", address,
                                            " is not a PCI device on this node (", device.string(),
                                            " does not exist)"));
  }
  // `driver` is a symlink to the bound driver's directory, absent when no driver is bound.
  const std::filesystem::path driver = std::filesystem::read_symlink(device / "driver", error);
  const std::string bound_to = error ? "no driver" : driver.filename().string();
  if (FirstLine(device / "vendor") == kMellanoxVendor) {
    if (bound_to != kMellanoxDriver) {
      return absl::FailedPreconditionError(absl::StrCat(
          "uplink ", address, " is a Mellanox NIC bound to ", bound_to, ", not ", kMellanoxDriver,
          ": DPDK's mlx5 driver runs beside the kernel's, so bind it back with dpdk-devbind.py "
          "--bind=",
          kMellanoxDriver, " ", address));
    }
    return absl::OkStatus();
  }
  // vfio-pci takes a device only in an IOMMU group: without one the bind itself fails, so that fix
  // comes first.
  const std::filesystem::path group = std::filesystem::read_symlink(device / "iommu_group", error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "uplink ", address,
        " has no IOMMU group, which vfio-pci needs: turn the IOMMU on (VT-d or AMD-Vi in the "
        "firmware, intel_iommu=on or amd_iommu=on on the kernel command line)"));
  }
  if (bound_to != kVfioDriver) {
    return absl::FailedPreconditionError(
        absl::StrCat("uplink ", address, " is bound to ", bound_to, ", not ", kVfioDriver,
                     ": bind it with dpdk-devbind.py --bind=", kVfioDriver, " ", address));
  }
  // The group's device node is what DPDK opens. A container sees the node's /dev only as far as it
  // was given it.
  const std::filesystem::path group_device =
      std::filesystem::path(host.dev) / "vfio" / group.filename();
  if (!std::filesystem::exists(group_device, error)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "uplink ", address, " is bound to ", kVfioDriver, " but its group device ",
        group_device.string(),
        " does not exist here: give the agent the node's /dev/vfio (the chart mounts it with "
        "uplink.type pci)"));
  }
  return absl::OkStatus();
}

// The bus, device name and devargs that make the port, for a config already checked.
struct DeviceSpec {
  std::string bus;
  std::string device_name;
  std::string devargs;
  std::string link_name;
};

absl::StatusOr<DeviceSpec> SpecFor(const UplinkConfig& config, const PortQueues& queues) {
  switch (config.type) {
    case UplinkType::kAfPacket:
      return DeviceSpec{"vdev", "net_af_packet0",
                        absl::StrCat("iface=", config.interface, ",qpairs=1,blocksz=",
                                     kAfPacketBlockSize, ",framesz=", kAfPacketFrameSize,
                                     // The ring holds as many frames as a queue has descriptors.
                                     ",framecnt=", queues.queue_size),
                        config.interface};
    case UplinkType::kAfXdp:
      return DeviceSpec{"vdev", "net_af_xdp0",
                        absl::StrCat("iface=", config.interface, ",start_queue=0,queue_count=1"),
                        config.interface};
    case UplinkType::kPci: {
      auto address = CanonicalPciAddress(config.pci_address);
      if (!address.ok()) return address.status();
      return DeviceSpec{"pci", *address, "", *address};
    }
    case UplinkType::kNone:
      break;
  }
  return absl::InvalidArgumentError("no uplink is configured (uplink type none)");
}

// af_packet and af_xdp ports have one queue pair: every socket (or NIC queue) they open receives,
// and the engine reads Rx queue 0 only, so a second pair would take frames nobody reads. Their Tx
// queues are that one pair's, so only one forwarding worker can transmit on them.
absl::Status CheckQueues(const UplinkConfig& config, const PortQueues& queues) {
  if (config.type != UplinkType::kPci && queues.tx_queues > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("uplink ", UplinkTypeName(config.type), " on ", config.interface,
                     " has one queue pair, but ", queues.tx_queues,
                     " forwarding workers each need a Tx queue: use one worker (worker_lcores) "
                     "or a pci uplink"));
  }
  return absl::OkStatus();
}

// The uplink carries the node network's frames, so its MTU is that network's, not pod_mtu that the
// pod ports' queues are sized with: the engine derives the VXLAN tunnel's inner MTU from it, and an
// uplink held to pod_mtu left the tunnel 50 bytes short of the pods' packets, dropping every
// full-sized one. af_packet and af_xdp take their interface's MTU, a PCI NIC the Ethernet default;
// either is lowered to what the port can take (af_packet's frames are kAfPacketFrameSize).
absl::StatusOr<uint32_t> UplinkMtu(const UplinkConfig& config, uint16_t port_id) {
  uint32_t mtu = RTE_ETHER_MTU;
  if (config.type == UplinkType::kAfPacket || config.type == UplinkType::kAfXdp) {
    absl::StatusOr<InterfaceState> state = ReadInterface(config.interface, "");
    if (!state.ok()) return state.status();
    mtu = state->mtu;
  }
  rte_eth_dev_info info{};
  if (int error = rte_eth_dev_info_get(port_id, &info); error != 0) {
    return DpdkError(absl::StrCat("read the device info of uplink ", config.interface), error);
  }
  return std::min<uint32_t>(mtu, info.max_mtu);
}

absl::Status RemoveDevice(const UplinkPort& port) {
  // Stopping a port that never started is harmless; removing the device closes and frees the
  // ethdev.
  rte_eth_dev_stop(port.port_id);
  const char* bus = port.type == UplinkType::kPci ? "pci" : "vdev";
  if (int error = rte_eal_hotplug_remove(bus, port.device_name.c_str()); error != 0) {
    return DpdkError(absl::StrCat("remove uplink ", port.device_name), error);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckUplinkDevice(const UplinkConfig& config, const HostPaths& host) {
  switch (config.type) {
    case UplinkType::kAfPacket:
    case UplinkType::kAfXdp:
      return CheckInterface(config.interface);
    case UplinkType::kPci: {
      auto address = CanonicalPciAddress(config.pci_address);
      if (!address.ok()) return address.status();
      return CheckPciDevice(*address, host);
    }
    case UplinkType::kNone:
      break;
  }
  return absl::InvalidArgumentError("no uplink is configured (uplink type none)");
}

PortQueues UplinkPortQueues(const PortQueues& queues, uint32_t mtu) {
  PortQueues uplink = queues;
  uplink.mtu = mtu;
  // No LRO on a port we forward from. A NIC's LRO merges a flow's TCP segments from the wire into
  // one large frame, and what it merged away (each segment's IP id, flags such as PSH, differing
  // options, the segment boundaries themselves; many PMDs report no MSS either) cannot be put back:
  // the engine would re-cut the merged packet at a size of its own choosing, or drop it against
  // the egress MTU. Linux turns LRO off on any device it forwards from (dev_disable_lro) for the
  // same reason. af_packet and af_xdp offer no LRO; a pci NIC may.
  uplink.rx_lro = false;
  return uplink;
}

absl::StatusOr<UplinkPort> CreateUplinkPort(const UplinkConfig& config, const PortQueues& queues,
                                            const HostPaths& host) {
  if (auto status = CheckUplinkDevice(config, host); !status.ok()) return status;
  if (auto status = CheckQueues(config, queues); !status.ok()) return status;
  auto spec = SpecFor(config, queues);
  if (!spec.ok()) return spec.status();

  UplinkPort port;
  if (config.type == UplinkType::kAfPacket) {
    absl::StatusOr<std::vector<std::string>> turned_off = TurnOffReceiveMerging(config.interface);
    if (!turned_off.ok()) return turned_off.status();
    port.receive_merging_turned_off = std::move(*turned_off);
  }
  port.type = config.type;
  port.device_name = spec->device_name;
  port.link_name = spec->link_name;
  const std::string what =
      absl::StrCat("uplink ", UplinkTypeName(config.type), " ", port.link_name);

  // A pci uplink named with `-a` was already probed by EAL at start-up, if its driver was bound
  // then.
  const int probed =
      rte_eal_hotplug_add(spec->bus.c_str(), spec->device_name.c_str(), spec->devargs.c_str());
  if (probed != 0 && !(config.type == UplinkType::kPci && probed == -EEXIST)) {
    return DpdkError(absl::StrCat("probe ", what), probed);
  }
  if (int error = rte_eth_dev_get_port_by_name(port.device_name.c_str(), &port.port_id);
      error != 0) {
    rte_eal_hotplug_remove(spec->bus.c_str(), spec->device_name.c_str());
    return DpdkError(absl::StrCat("find the ethdev of ", what), error);
  }
  absl::StatusOr<uint32_t> mtu = UplinkMtu(config, port.port_id);
  if (!mtu.ok()) {
    RemoveDevice(port).IgnoreError();
    return absl::Status(mtu.status().code(), absl::StrCat(what, ": ", mtu.status().message()));
  }
  const PortQueues uplink_queues = UplinkPortQueues(queues, *mtu);
  port.mtu = *mtu;
  if (auto status = ConfigureAndStartPort(port.port_id, uplink_queues); !status.ok()) {
    RemoveDevice(port).IgnoreError();
    return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
  }
  if (int error = rte_eth_macaddr_get(port.port_id, &port.mac); error != 0) {
    RemoveDevice(port).IgnoreError();
    return DpdkError(absl::StrCat("read the MAC of ", what), error);
  }
  if (rte_eth_dev_info info{}; rte_eth_dev_info_get(port.port_id, &info) == 0) {
    port.driver = info.driver_name;
    port.tx_offloads = TxOffloadsFor(info.tx_offload_capa);  // as ConfigureAndStartPort set them
  }
  return port;
}

absl::Status DestroyUplinkPort(const UplinkPort& port) { return RemoveDevice(port); }

std::string DescribeTxOffloads(uint64_t tx_offloads) {
  std::vector<std::string> checksums;
  if (tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) checksums.push_back("IPv4");
  if (tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) checksums.push_back("TCP");
  if (tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) checksums.push_back("UDP");
  std::string checksum_list;
  for (size_t i = 0; i < checksums.size(); ++i) {
    absl::StrAppend(&checksum_list,
                    i == 0                      ? ""
                    : i + 1 == checksums.size() ? " and "
                                                : ", ",
                    checksums[i]);
  }
  const bool segmentation = (tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO) != 0;
  std::string on_nic;
  if (segmentation && !checksums.empty()) {
    on_nic = absl::StrCat("TCP segmentation, and ", checksum_list, " checksums, on the NIC");
  } else if (segmentation) {
    on_nic = "TCP segmentation on the NIC";
  } else if (!checksums.empty()) {
    on_nic = absl::StrCat(checksum_list, " checksums on the NIC");
  }
  std::string in_software;
  if (!segmentation) in_software = "TCP segmentation";
  if (checksums.size() < 3) {
    absl::StrAppend(&in_software, in_software.empty() ? "" : " and ",
                    checksums.empty() ? "checksums" : "the other checksums");
  }
  if (on_nic.empty()) return absl::StrCat(in_software, " in software (the NIC offers none)");
  if (in_software.empty()) return on_nic;
  return absl::StrCat(on_nic, "; ", in_software, " in software");
}

}  // namespace dpcni::dataplane
