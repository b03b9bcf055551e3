// The uplink: the DPDK port on the node's network. Three kinds (UplinkConfig::type):
//  - pci: a NIC bound to vfio-pci (a Mellanox NIC: to mlx5_core), probed by its PCI address (EAL is
//    started with `-a <address>`);
//  - af_packet: DPDK's net_af_packet on a kernel interface (any NIC, or a veth in a test bed);
//  - af_xdp: DPDK's net_af_xdp on a kernel interface's queue 0 (XDP redirects that queue's frames).
// af_packet and af_xdp look the interface up in the network namespace of the calling thread.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/agent_config.h"
#include "port/ethdev_setup.h"

namespace dpcni::dataplane {

struct UplinkPort {
  UplinkType type = UplinkType::kNone;
  uint16_t port_id = 0;
  std::string device_name;  // the DPDK device: "net_af_packet0", "net_af_xdp0" or "0000:03:00.0"
  rte_ether_addr mac{};
  std::string link_name;     // what an operator knows it by: the interface, or the PCI address
  std::string driver;        // the DPDK driver that took it: "net_af_packet", "net_ixgbe"
  uint32_t mtu = 0;          // the node network's, which the port was configured with
  uint64_t tx_offloads = 0;  // RTE_ETH_TX_OFFLOAD_*: what the port was configured to do on Tx
  // af_packet: the receive merging the agent turned off on the interface ("GRO", "LRO"), to log.
  std::vector<std::string> receive_merging_turned_off;
};

// Where the checks look at the node: sysfs, and /dev for vfio's group devices. Tests give trees of
// their own.
struct HostPaths {
  std::string sysfs = "/sys";
  std::string dev = "/dev";
};

// What can be checked before DPDK is touched: the interface exists in this network namespace, or
// the PCI device exists under <sysfs>/bus/pci/devices and is ready for its DPDK driver: in an IOMMU
// group, bound to vfio-pci, its group device in <dev>/vfio; a Mellanox NIC instead bound to its
// kernel driver mlx5_core, which DPDK's mlx5 driver works beside. Each refusal names the problem
// and the fix.
absl::Status CheckUplinkDevice(const UplinkConfig& config, const HostPaths& host = {});

// How the uplink is configured: `queues` as every port has them, with the uplink's MTU and without
// Rx LRO.
PortQueues UplinkPortQueues(const PortQueues& queues, uint32_t mtu);

// The Tx offloads the engine uses on the uplink, for the agent's log: "TCP segmentation, and IPv4,
// TCP and UDP checksums, on the NIC", or what the engine does in software instead.
std::string DescribeTxOffloads(uint64_t tx_offloads);

// Checks the device, creates (probes) the port, configures it like every port (ethdev_setup.h,
// with UplinkPortQueues) and starts it. On failure nothing is left behind.
absl::StatusOr<UplinkPort> CreateUplinkPort(const UplinkConfig& config, const PortQueues& queues,
                                            const HostPaths& host = {});

// Stops the port and removes its device (for pci, DPDK lets go of the NIC; it stays on vfio-pci).
absl::Status DestroyUplinkPort(const UplinkPort& port);

}  // namespace dpcni::dataplane
