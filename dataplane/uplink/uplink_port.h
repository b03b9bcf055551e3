// The uplink: the DPDK port on the node's network. Three kinds (UplinkConfig::type):
//  - pci: a NIC bound to vfio-pci, probed by its PCI address (EAL is started with `-a <address>`);
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
  std::string link_name;  // what an operator knows it by: the interface, or the PCI address
  uint32_t mtu = 0;       // the node network's, which the port was configured with
  // af_packet: the receive merging the agent turned off on the interface ("GRO", "LRO"), to log.
  std::vector<std::string> receive_merging_turned_off;
};

inline constexpr char kDefaultSysfsRoot[] = "/sys";

// What can be checked before DPDK is touched: the interface exists in this network namespace, or
// the PCI device exists under <sysfs_root>/bus/pci/devices and is bound to vfio-pci. Each refusal
// names the problem and, where there is one, the fix.
absl::Status CheckUplinkDevice(const UplinkConfig& config,
                               const std::string& sysfs_root = kDefaultSysfsRoot);

// How the uplink is configured: `queues` as every port has them, with the uplink's MTU and without
// Rx LRO.
PortQueues UplinkPortQueues(const PortQueues& queues, uint32_t mtu);

// Checks the device, creates (probes) the port, configures it like every port (ethdev_setup.h,
// with UplinkPortQueues) and starts it. On failure nothing is left behind.
absl::StatusOr<UplinkPort> CreateUplinkPort(const UplinkConfig& config, const PortQueues& queues,
                                            const std::string& sysfs_root = kDefaultSysfsRoot);

// Stops the port and removes its device (for pci, DPDK lets go of the NIC; it stays on vfio-pci).
absl::Status DestroyUplinkPort(const UplinkPort& port);

}  // namespace dpcni::dataplane
