// Configuring and starting an ethdev the way the engine expects every port: one Rx queue, one Tx
// queue per worker, and the checksum/segmentation offloads the device has.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace dpcni::dataplane {

struct PortQueues {
  rte_mempool* pool = nullptr;  // Rx buffers (EAL memory)
  uint16_t tx_queues = 1;       // one per forwarding worker
  uint16_t queue_size = 512;    // descriptors per queue, adjusted to what the device allows
  uint32_t mtu = 1500;
  uint16_t rx_descriptors = 0;  // of the Rx queue when it differs from queue_size; 0: queue_size
  // Sent mbufs a Tx queue may keep before the driver frees them (tx_free_thresh = descriptors minus
  // this); 0: the driver's default.
  uint16_t tx_unreclaimed_max = 0;
  // Whether to ask for Rx LRO where the device has it: yes for the pods' and the host port's
  // virtio-user (it makes vhost-net hand over the kernel's GSO packets whole), no for the uplink
  // (see UplinkPortQueues in uplink_port.h).
  bool rx_lro = true;
  // Whether Rx queue 0 raises interrupts the workers can block on (virtio-user: an eventfd that
  // vhost-net signals, net_tap: the queue's fd). A device that cannot is started without them.
  bool rx_interrupts = false;
};

// The Rx offloads a port is configured with on a device that offers `rx_offload_capa`: the
// checksum offloads, and LRO unless `queues` says otherwise.
uint64_t RxOffloadsFor(const PortQueues& queues, uint64_t rx_offload_capa);
// The Tx offloads a port is configured with on a device that offers `tx_offload_capa`: TSO, the
// IPv4, TCP and UDP checksums, and multi-segment packets, as far as it has them.
uint64_t TxOffloadsFor(uint64_t tx_offload_capa);

absl::Status ConfigureAndStartPort(uint16_t port_id, const PortQueues& queues);

// A DPDK return code (negative errno) as a status naming what failed.
absl::Status DpdkError(const std::string& what, int error);

}  // namespace dpcni::dataplane
