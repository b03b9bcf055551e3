// Kernel ports: a DPDK ethdev whose other side is a kernel interface in some netns: a pod's eth0,
// or the node's host port (dpcni0). Two backends, both on a persistent tap (IFF_MULTI_QUEUE,
// IFF_VNET_HDR) that outlives the agent and is attached to again by name:
//  - vhost-net: a virtio-user port on /dev/vhost-net attached to a tap that we pre-create in the
//    netns; the kernel's vhost thread moves packets and GSO/checksum offloads pass whole.
//  - tap: our own vnet_tap vdev driver (vnet_tap.h), for kernels without vhost-net: the worker
//    reads and writes the tap with the virtio-net header, one syscall per frame, but a TCP stream's
//    frames are GSO packets of up to 64 KiB that cross whole, as on vhost-net. It replaced DPDK's
//    net_tap (one syscall and one software segmentation per MTU-sized frame), and attaches to the
//    taps net_tap made for pods of an older agent.
// Every lifecycle call runs on a thread inside the interface's netns: both drivers create and look
// up their kernel interface in the namespace of the calling thread.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "config/agent_config.h"

namespace dpcni::dataplane {

struct KernelPort {
  uint16_t port_id = 0;
  std::string device_name;  // the vdev name, e.g. "virtio_user3" or "vnet_tap3"
  PortBackend backend = PortBackend::kTap;
};

struct KernelPortRequest {
  std::string netns_path;
  std::string ifname;
  rte_ether_addr mac{};
  uint32_t mtu = 1500;
  // The interface is there already and in use: a restored pod's eth0, the persistent tap an earlier
  // agent made. A failed Create then leaves it as it was instead of deleting it.
  bool keep_interface = false;
};

// "02:dc:0a:f4:00:05": lower case, as ip(8) and the CNI result show MACs.
std::string FormatMac(const rte_ether_addr& mac);

// A stable MAC derived from an IPv4 address (locally administered, unicast): a re-attached or
// restored port keeps the MAC its neighbours already know.
rte_ether_addr StableMac(uint32_t ipv4);

// `auto` resolves to vhost-net where /dev/vhost-net can be opened, else tap.
PortBackend ResolveBackend(PortBackend configured);

// What the pod lifecycle needs of the ports: an interface so that it can be tested without EAL.
// A port is known by its device name: DPDK hands a freed port id to the next device it makes, so a
// recorded port id may name a newer pod's port once ours is gone; device names are never reused.
class PortFactory {
 public:
  virtual ~PortFactory() = default;
  // Creates the kernel interface (or attaches to it) and the ethdev, configures offloads and
  // queues, and starts it. On failure nothing is left behind: no ethdev, and no tap unless
  // keep_interface.
  virtual absl::StatusOr<KernelPort> Create(PortBackend backend,
                                            const KernelPortRequest& request) = 0;
  // The port id the device has now; NotFoundError once it is gone.
  virtual absl::StatusOr<uint16_t> Find(const std::string& device_name) = 0;
  // Stops and removes the ethdev of port.device_name (inside `netns_path` while that exists). Only
  // the DPDK side: a persistent tap stays for the caller to delete.
  virtual absl::Status Remove(const KernelPort& port, const std::string& netns_path) = 0;
};

class KernelPorts final : public PortFactory {
 public:
  // `tx_queues` is one per forwarding worker; `queue_size` descriptors per queue; Rx buffers come
  // from `pool`, which must be EAL memory (vhost-net can only map EAL memseg lists).
  // `rx_interrupts`: the ports raise Rx interrupts (PortQueues::rx_interrupts).
  KernelPorts(rte_mempool* pool, uint16_t tx_queues, uint16_t queue_size, bool rx_interrupts);

  absl::StatusOr<KernelPort> Create(PortBackend backend, const KernelPortRequest& request) override;
  absl::StatusOr<uint16_t> Find(const std::string& device_name) override;
  // A device that is gone already is success.
  absl::Status Remove(const KernelPort& port, const std::string& netns_path) override;

  // Stops and removes the ethdev and deletes the pod's interface. When the netns is gone (the
  // sandbox was torn down first) only the DPDK side is left to remove.
  absl::Status Destroy(const KernelPort& port, const std::string& netns_path,
                       const std::string& ifname);

 private:
  absl::StatusOr<KernelPort> CreateInCurrentNetns(PortBackend backend,
                                                  const KernelPortRequest& request);
  // Requires lifecycle_mu_. The port id is looked up by the device name; a gone device is success.
  absl::Status RemoveDevice(const KernelPort& port);

  rte_mempool* const pool_;
  const uint16_t tx_queues_;
  const uint16_t queue_size_;
  const bool rx_interrupts_;
  // DPDK's vdev hotplug and ethdev allocation are not documented as thread-safe; gRPC serves pods
  // in parallel, so port lifecycles are serialized here (on the control plane only).
  std::mutex lifecycle_mu_;
  uint64_t next_device_index_ = 0;
};

}  // namespace dpcni::dataplane
