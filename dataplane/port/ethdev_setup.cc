#include "port/ethdev_setup.h"

#include <rte_ethdev.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace dpcni::dataplane {
namespace {

// Offloads we ask for when the device has them. Rx LRO and checksum make virtio-user negotiate
// GUEST_TSO4/6 and GUEST_CSUM with the tap, so the kernel hands over whole GSO packets instead of
// segmenting; Tx TSO/checksum let it hand them back whole.
constexpr uint64_t kWantedRxOffloads = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM |
                                       RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
                                       RTE_ETH_RX_OFFLOAD_TCP_LRO;
constexpr uint64_t kWantedTxOffloads = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
                                       RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                                       RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_MULTI_SEGS;

}  // namespace

absl::Status DpdkError(const std::string& what, int error) {
  return absl::InternalError(absl::StrCat(what, ": ", rte_strerror(error < 0 ? -error : error)));
}

uint64_t RxOffloadsFor(const PortQueues& queues, uint64_t rx_offload_capa) {
  uint64_t wanted = kWantedRxOffloads;
  if (!queues.rx_lro) {
    wanted &= ~RTE_ETH_RX_OFFLOAD_TCP_LRO;
  }
  return wanted & rx_offload_capa;
}

uint64_t TxOffloadsFor(uint64_t tx_offload_capa) { return kWantedTxOffloads & tx_offload_capa; }

absl::Status ConfigureAndStartPort(uint16_t port_id, const PortQueues& queues) {
  rte_eth_dev_info info{};
  if (int error = rte_eth_dev_info_get(port_id, &info); error != 0)
    return DpdkError("dev_info", error);

  rte_eth_conf conf{};
  conf.rxmode.offloads = RxOffloadsFor(queues, info.rx_offload_capa);
  conf.txmode.offloads = TxOffloadsFor(info.tx_offload_capa);
  conf.rxmode.mtu = queues.mtu;
  conf.intr_conf.rxq = queues.rx_interrupts ? 1 : 0;
  int error = rte_eth_dev_configure(port_id, 1, queues.tx_queues, &conf);
  if (error != 0 && queues.rx_interrupts) {
    // Interrupts are a saving, not a need: the worker naps on timers for a port without them.
    DPCNI_LOG(kWarning, "ports", "port ", port_id, " (", info.driver_name,
              ") refused Rx interrupts: ", rte_strerror(-error), "; polling it on timers");
    conf.intr_conf.rxq = 0;
    error = rte_eth_dev_configure(port_id, 1, queues.tx_queues, &conf);
  }
  if (error != 0) return DpdkError("configure", error);
  uint16_t rx_descriptors = queues.rx_descriptors != 0 ? queues.rx_descriptors : queues.queue_size;
  uint16_t tx_descriptors = queues.queue_size;
  if (int error = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_descriptors, &tx_descriptors);
      error != 0) {
    return DpdkError("adjust descriptors", error);
  }
  const int socket = rte_eth_dev_socket_id(port_id);
  rte_eth_rxconf rx_conf = info.default_rxconf;
  rx_conf.offloads = conf.rxmode.offloads;
  if (int error = rte_eth_rx_queue_setup(port_id, 0, rx_descriptors, socket, &rx_conf, queues.pool);
      error != 0) {
    return DpdkError("set up rx queue", error);
  }
  rte_eth_txconf tx_conf = info.default_txconf;
  tx_conf.offloads = conf.txmode.offloads;
  if (queues.tx_unreclaimed_max != 0 && queues.tx_unreclaimed_max < tx_descriptors) {
    tx_conf.tx_free_thresh = tx_descriptors - queues.tx_unreclaimed_max;
  }
  for (uint16_t queue = 0; queue < queues.tx_queues; ++queue) {
    if (int error = rte_eth_tx_queue_setup(port_id, queue, tx_descriptors, socket, &tx_conf);
        error != 0) {
      return DpdkError(absl::StrCat("set up tx queue ", queue), error);
    }
  }
  if (int error = rte_eth_dev_start(port_id); error != 0) return DpdkError("start", error);
  return absl::OkStatus();
}

}  // namespace dpcni::dataplane
