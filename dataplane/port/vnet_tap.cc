// The vnet_tap vdev driver (vnet_tap.h). DPDK's driver interface (ethdev_driver.h, the vdev bus's
// registration, the interrupt handle's setters) is internal API: this file is compiled with
// ALLOW_INTERNAL_API, on the headers our DPDK build installs with enable_driver_sdk
// (tools/build-dpdk.sh).
#include "port/vnet_tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <bus_vdev_driver.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_ip.h>
#include <rte_kvargs.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_net.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "port/vnet_header.h"

namespace dpcni::dataplane {
namespace {

constexpr char kIfaceKey[] = "iface";
constexpr char kMacKey[] = "mac";
constexpr const char* kValidKeys[] = {kIfaceKey, kMacKey, nullptr};

// Segments of one frame on Rx: VnetTapRxHeldMbufs of the smallest data room we accept (2 KiB, as
// RTE_MBUF_DEFAULT_DATAROOM) for the largest frame. A pool of smaller mbufs is refused at queue
// setup rather than read into truncated frames.
constexpr uint32_t kMinDataRoom = 2048;
constexpr uint32_t kMaxRxSegments = VnetTapRxHeldMbufs(kMinDataRoom);
// Segments of one frame on Tx: what our Rx makes, with room for chains other ports make (a
// virtio-user LRO packet in 2 KiB mbufs is as long). Longer chains are dropped and counted.
constexpr uint32_t kMaxTxSegments = 64;
constexpr uint16_t kMaxTxQueues = 128;

// The counters a queue's own lcore writes and the control thread reads (rte_eth_stats_get):
// relaxed atomics, so neither a torn read nor a lost increment across the two.
struct Counter {
  uint64_t value = 0;
  void Add(uint64_t by) {
    __atomic_store_n(&value, __atomic_load_n(&value, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
  }
  uint64_t Get() const { return __atomic_load_n(&value, __ATOMIC_RELAXED); }
  void Reset() { __atomic_store_n(&value, 0, __ATOMIC_RELAXED); }
};

// Every queue, and the port's private data, lives in rte_zmalloc'ed memory and is used as the zero
// bytes it starts as (no constructors run there): all-zero must be a valid state of each field.
struct RxQueue {
  int fd;
  uint16_t port_id;
  rte_mempool* pool;
  uint32_t room;      // data bytes of one pool mbuf
  uint32_t segments;  // spares posted per read: VnetTapRxHeldMbufs(room)
  // Slots [0, empty) of spares lack an mbuf: the last read took them, and the pool had none left
  // to replace them. No read happens until they are filled, so a frame never meets too few
  // buffers. The spares are interchangeable, so a read always fills from slot 0 and the refill
  // replaces exactly the slots it took, with no shuffling.
  uint32_t empty;
  rte_mbuf* spares[kMaxRxSegments];
  // iov[0]: the virtio-net header; iov[1 + i]: spares[i]'s data room.
  iovec iov[kMaxRxSegments + 1];
  virtio_net_hdr header;
  Counter packets;
  Counter bytes;
  Counter errors;
  Counter no_mbufs;
};

struct TxQueue {
  int fd;
  Counter packets;
  Counter bytes;
  Counter errors;
};

struct VnetTapPort {
  int fd;  // the tap's one queue, shared by the Rx queue and every Tx queue
  char ifname[IFNAMSIZ];
  rte_ether_addr mac;  // data->mac_addrs points here
  rte_intr_handle* intr;
};

VnetTapPort& PortOf(rte_eth_dev* dev) { return *static_cast<VnetTapPort*>(dev->data->dev_private); }

// The last probe's failure, for KernelPorts to put into its status: rte_eal_hotplug_add only
// returns an errno, and the probe runs on the thread that called it.
thread_local std::string last_probe_error;

// Rx.

bool RefillSpares(RxQueue& queue) {
  if (queue.empty == 0) return true;
  if (rte_pktmbuf_alloc_bulk(queue.pool, queue.spares, queue.empty) != 0) {
    queue.no_mbufs.Add(1);
    return false;
  }
  for (uint32_t i = 0; i < queue.empty; ++i) {
    queue.iov[1 + i] = {rte_pktmbuf_mtod(queue.spares[i], void*), queue.room};
  }
  queue.empty = 0;
  return true;
}

FrameLayout LayoutOf(uint32_t packet_type, const rte_net_hdr_lens& lengths) {
  FrameLayout layout;
  layout.l2_len = lengths.l2_len;
  layout.l3_len = lengths.l3_len;
  if (RTE_ETH_IS_IPV4_HDR(packet_type)) {
    layout.l3 = FrameLayout::L3::kIpv4;
  } else if (RTE_ETH_IS_IPV6_HDR(packet_type)) {
    layout.l3 = FrameLayout::L3::kIpv6;
  }
  switch (packet_type & RTE_PTYPE_L4_MASK) {
    case RTE_PTYPE_L4_TCP:
      layout.l4 = FrameLayout::L4::kTcp;
      break;
    case RTE_PTYPE_L4_UDP:
      layout.l4 = FrameLayout::L4::kUdp;
      break;
    default:
      break;
  }
  return layout;
}

// Completes a partial checksum the engine would not (RxOffload::finish_checksum_here): the field
// holds the pseudo-header sum (or whatever seed the protocol wants) and the rest is summed from
// csum_start to the end of the frame, as the kernel's skb_checksum_help does.
bool FinishChecksum(rte_mbuf* packet, const virtio_net_hdr& header) {
  const uint32_t field = uint32_t{header.csum_start} + header.csum_offset;
  // The kernel puts the headers in the first buffer (2 KiB at least): a field beyond is malformed.
  if (header.csum_start >= packet->pkt_len || field + sizeof(uint16_t) > packet->data_len) {
    return false;
  }
  uint16_t sum = 0;
  if (rte_raw_cksum_mbuf(packet, header.csum_start, packet->pkt_len - header.csum_start, &sum) !=
      0) {
    return false;
  }
  // A sum that folds to zero is sent as 0xffff: in UDP, zero means "no checksum".
  uint16_t checksum = static_cast<uint16_t>(~sum);
  if (checksum == 0) checksum = 0xffff;
  std::memcpy(rte_pktmbuf_mtod_offset(packet, char*, field), &checksum, sizeof(checksum));
  return true;
}

// Turns the frame just read into spares[0, used) into a packet; false when its header asks for
// what we never announced (then the caller frees it).
bool ApplyVnetHeader(const RxQueue& queue, rte_mbuf* packet) {
  if (VnetHeaderIsPlain(queue.header)) return true;
  rte_net_hdr_lens lengths{};
  packet->packet_type = rte_net_get_ptype(
      packet, &lengths, RTE_PTYPE_L2_MASK | RTE_PTYPE_L3_MASK | RTE_PTYPE_L4_MASK);
  const RxOffload offload =
      RxOffloadFromVnetHeader(queue.header, LayoutOf(packet->packet_type, lengths));
  if (!offload.valid) return false;
  if (offload.finish_checksum_here && !FinishChecksum(packet, queue.header)) return false;
  packet->ol_flags |= offload.ol_flags;
  packet->tso_segsz = offload.tso_segsz;
  return true;
}

// tun has no batched read: its character device's read_iter returns exactly one frame per call,
// and it is no socket, so recvmmsg does not apply (the batching interface, tun_get_socket with
// TUN_MSG_PTR, is for in-kernel users such as vhost-net only). What we batch is bytes: with
// TUNSETOFFLOAD the kernel hands over a TCP stream's GSO packets, up to 64 KiB per read.
uint16_t RxBurst(void* opaque, rte_mbuf** packets, uint16_t count) {
  RxQueue& queue = *static_cast<RxQueue*>(opaque);
  uint16_t received = 0;
  while (received < count) {
    if (!RefillSpares(queue)) break;
    const ssize_t length = ::readv(queue.fd, queue.iov, static_cast<int>(queue.segments + 1));
    if (length < 0) {
      // EAGAIN: nothing waits (the fd is non-blocking). Anything else (the tap's queue detached
      // under us, EBADFD) is counted once per poll and retried on the next.
      if (errno != EAGAIN && errno != EINTR) queue.errors.Add(1);
      break;
    }
    if (static_cast<size_t>(length) < kVnetHeaderSize + RTE_ETHER_HDR_LEN) {
      queue.errors.Add(1);  // the spares stay posted: nothing was taken
      continue;
    }
    const auto frame = static_cast<uint32_t>(length - kVnetHeaderSize);
    const uint32_t used = (frame + queue.room - 1) / queue.room;
    rte_mbuf* head = queue.spares[0];
    uint32_t left = frame;
    for (uint32_t i = 0; i < used; ++i) {
      rte_mbuf* segment = queue.spares[i];
      segment->data_len = static_cast<uint16_t>(std::min(left, queue.room));
      left -= segment->data_len;
      segment->next = i + 1 < used ? queue.spares[i + 1] : nullptr;
    }
    head->nb_segs = static_cast<uint16_t>(used);
    head->pkt_len = frame;
    head->port = queue.port_id;
    queue.empty = used;
    if (!ApplyVnetHeader(queue, head)) {
      queue.errors.Add(1);
      rte_pktmbuf_free(head);
      continue;
    }
    queue.bytes.Add(frame);
    packets[received++] = head;
  }
  queue.packets.Add(received);
  return received;
}

// Tx.

// DPDK and Linux disagree on the pseudo-header sum a TSO packet carries in its TCP checksum field:
// DPDK's convention (rte_ipv4_phdr_cksum with RTE_MBUF_F_TX_TCP_SEG) leaves the length out, Linux's
// segmentation (tcp_gso_segment) takes it to include the whole packet's TCP length and subtracts
// that per segment. Rewritten here, in the packet: the engine owns it, and a segmenting port never
// gets a clone.
bool PrepareHeadersForKernel(rte_mbuf* packet) {
  const auto headers = static_cast<uint32_t>(packet->l2_len + packet->l3_len + packet->l4_len);
  if (headers > packet->data_len) return false;
  const bool ipv6 = (packet->ol_flags & RTE_MBUF_F_TX_IPV6) != 0;
  if ((packet->ol_flags & RTE_MBUF_F_TX_IP_CKSUM) != 0 && !ipv6) {
    // Not offered (the kernel never fills an IPv4 header checksum on receive); done here should a
    // caller ask anyway.
    auto* ip = rte_pktmbuf_mtod_offset(packet, rte_ipv4_hdr*, packet->l2_len);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  }
  if ((packet->ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0) {
    auto* tcp = rte_pktmbuf_mtod_offset(packet, rte_tcp_hdr*, packet->l2_len + packet->l3_len);
    if (ipv6) {
      tcp->cksum = rte_ipv6_phdr_cksum(
          rte_pktmbuf_mtod_offset(packet, const rte_ipv6_hdr*, packet->l2_len), 0);
    } else {
      tcp->cksum = rte_ipv4_phdr_cksum(
          rte_pktmbuf_mtod_offset(packet, const rte_ipv4_hdr*, packet->l2_len), 0);
    }
  }
  return true;
}

constexpr uint64_t kTxRequests =
    RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IP_CKSUM;

bool WritePacket(const TxQueue& queue, rte_mbuf* packet) {
  virtio_net_hdr header{};
  if ((packet->ol_flags & kTxRequests) != 0) {
    const TxHeader request =
        VnetHeaderFromTxRequest({.ol_flags = packet->ol_flags,
                                 .l2_len = static_cast<uint16_t>(packet->l2_len),
                                 .l3_len = static_cast<uint16_t>(packet->l3_len),
                                 .l4_len = static_cast<uint16_t>(packet->l4_len),
                                 .tso_segsz = static_cast<uint16_t>(packet->tso_segsz)});
    if (!request.valid || !PrepareHeadersForKernel(packet)) return false;
    header = request.header;
  }
  iovec iov[kMaxTxSegments + 1];
  iov[0] = {&header, kVnetHeaderSize};
  int count = 1;
  for (rte_mbuf* segment = packet; segment != nullptr; segment = segment->next) {
    if (count == static_cast<int>(std::size(iov))) return false;
    iov[count++] = {rte_pktmbuf_mtod(segment, void*), segment->data_len};
  }
  // A tun write never waits for room: the frame is copied into an skb and handed to the pod's
  // stack (or dropped there, counted by the kernel) before writev returns, so the mbuf is free to
  // go at once. Failures (EIO while the interface is down, EINVAL for a header the kernel
  // refuses) drop the packet: handing it back unsent would only make the caller retry it.
  return ::writev(queue.fd, iov, count) >= 0;
}

// One writev per packet: tun takes one frame per write and, as on Rx, has no batched write for a
// process (sendmmsg needs a socket). The batching is again GSO: a whole TCP stream's 64 KiB packet
// per call.
uint16_t TxBurst(void* opaque, rte_mbuf** packets, uint16_t count) {
  TxQueue& queue = *static_cast<TxQueue*>(opaque);
  uint64_t sent = 0;
  uint64_t bytes = 0;
  uint64_t failed = 0;
  for (uint16_t i = 0; i < count; ++i) {
    rte_mbuf* packet = packets[i];
    if (WritePacket(queue, packet)) {
      ++sent;
      bytes += packet->pkt_len;
    } else {
      ++failed;
    }
    rte_pktmbuf_free(packet);
  }
  queue.packets.Add(sent);
  queue.bytes.Add(bytes);
  if (failed != 0) queue.errors.Add(failed);
  return count;
}

// Device operations.

int Configure(rte_eth_dev* /*dev*/) { return 0; }

int InfosGet(rte_eth_dev* /*dev*/, rte_eth_dev_info* info) {
  info->max_mac_addrs = 1;
  info->max_rx_queues = 1;
  info->max_tx_queues = kMaxTxQueues;
  info->max_rx_pktlen = kVnetTapMaxFrame;
  info->min_mtu = RTE_ETHER_MIN_MTU;
  info->max_mtu = kVnetTapMaxFrame - RTE_ETHER_HDR_LEN - RTE_VLAN_HLEN;
  info->max_lro_pkt_size = kVnetTapMaxFrame;
  info->min_rx_bufsize = kMinDataRoom;  // ethdev adds RTE_PKTMBUF_HEADROOM
  info->rx_offload_capa = RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM |
                          RTE_ETH_RX_OFFLOAD_TCP_LRO | RTE_ETH_RX_OFFLOAD_SCATTER;
  info->tx_offload_capa = RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                          RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  info->speed_capa = RTE_ETH_LINK_SPEED_10G;
  return 0;
}

void RxQueueRelease(rte_eth_dev* dev, uint16_t queue_id) {
  auto* queue = static_cast<RxQueue*>(dev->data->rx_queues[queue_id]);
  if (queue == nullptr) return;
  for (uint32_t i = queue->empty; i < queue->segments; ++i) rte_pktmbuf_free(queue->spares[i]);
  rte_free(queue);
  dev->data->rx_queues[queue_id] = nullptr;
}

void TxQueueRelease(rte_eth_dev* dev, uint16_t queue_id) {
  rte_free(dev->data->tx_queues[queue_id]);
  dev->data->tx_queues[queue_id] = nullptr;
}

int RxQueueSetup(rte_eth_dev* dev, uint16_t queue_id, uint16_t /*descriptors*/, unsigned int socket,
                 const rte_eth_rxconf* /*conf*/, rte_mempool* pool) {
  const uint32_t data_room = rte_pktmbuf_data_room_size(pool);
  if (data_room < RTE_PKTMBUF_HEADROOM + kMinDataRoom) {
    DPCNI_LOG(kError, "vnet_tap", PortOf(dev).ifname, ": Rx mbufs of ", data_room,
              " bytes are too small; give the queue a pool of RTE_MBUF_DEFAULT_BUF_SIZE mbufs");
    return -EINVAL;
  }
  RxQueueRelease(dev, queue_id);  // ethdev releases a set-up queue first; this is for safety
  auto* queue =
      static_cast<RxQueue*>(rte_zmalloc_socket("vnet_tap_rxq", sizeof(RxQueue), 0, socket));
  if (queue == nullptr) return -ENOMEM;
  queue->fd = PortOf(dev).fd;
  queue->port_id = dev->data->port_id;
  queue->pool = pool;
  queue->room = data_room - RTE_PKTMBUF_HEADROOM;
  queue->segments = VnetTapRxHeldMbufs(queue->room);
  queue->iov[0] = {&queue->header, kVnetHeaderSize};
  queue->empty = queue->segments;
  if (!RefillSpares(*queue)) {
    rte_free(queue);
    return -ENOMEM;
  }
  dev->data->rx_queues[queue_id] = queue;
  return 0;
}

int TxQueueSetup(rte_eth_dev* dev, uint16_t queue_id, uint16_t /*descriptors*/, unsigned int socket,
                 const rte_eth_txconf* /*conf*/) {
  TxQueueRelease(dev, queue_id);
  auto* queue =
      static_cast<TxQueue*>(rte_zmalloc_socket("vnet_tap_txq", sizeof(TxQueue), 0, socket));
  if (queue == nullptr) return -ENOMEM;
  queue->fd = PortOf(dev).fd;
  dev->data->tx_queues[queue_id] = queue;
  return 0;
}

// The offloads the kernel may leave to us on the frames it sends: none unless the port was
// configured to take them, since the tap's features (TUNSETOFFLOAD) are what the pod's kernel
// relies on when it skips checksums and segmentation.
unsigned int TunOffloadsFor(uint64_t rx_offloads) {
  unsigned int offloads = 0;
  if ((rx_offloads & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM)) != 0) {
    offloads |= TUN_F_CSUM;
  }
  // TSO needs CSUM too (the kernel drops TSO4/6 without it).
  if ((rx_offloads & RTE_ETH_RX_OFFLOAD_TCP_LRO) != 0) {
    offloads |= TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  }
  return offloads;
}

void RxInterruptsOff(VnetTapPort& port) {
  rte_intr_vec_list_free(port.intr);
  rte_intr_nb_efd_set(port.intr, 0);
}

// The Rx queue's interrupt is the tap fd itself, readable whenever a frame waits: an "external"
// handle (EAL reads nothing from it when it fires) whose one event fd is the tap's. Nothing to arm
// or disarm, so rx_queue_intr_enable/disable succeed doing nothing.
int RxInterruptsOn(VnetTapPort& port) {
  if (rte_intr_vec_list_alloc(port.intr, "vnet_tap_intr_vec", 1) != 0 ||
      rte_intr_vec_list_index_set(port.intr, 0, RTE_INTR_VEC_RXTX_OFFSET) != 0 ||
      rte_intr_efds_index_set(port.intr, 0, port.fd) != 0 || rte_intr_nb_efd_set(port.intr, 1)) {
    RxInterruptsOff(port);
    return -rte_errno;
  }
  return 0;
}

int Start(rte_eth_dev* dev) {
  VnetTapPort& port = PortOf(dev);
  const unsigned int offloads = TunOffloadsFor(dev->data->dev_conf.rxmode.offloads);
  if (::ioctl(port.fd, TUNSETOFFLOAD, offloads) != 0) {
    DPCNI_LOG(kError, "vnet_tap", port.ifname, ": TUNSETOFFLOAD ", offloads, ": ",
              std::strerror(errno));
    return -errno;
  }
  if (dev->data->dev_conf.intr_conf.rxq != 0) {
    if (int error = RxInterruptsOn(port); error != 0) return error;
  }
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; ++i) {
    dev->data->rx_queue_state[i] = RTE_ETH_QUEUE_STATE_STARTED;
  }
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; ++i) {
    dev->data->tx_queue_state[i] = RTE_ETH_QUEUE_STATE_STARTED;
  }
  dev->data->dev_link.link_status = RTE_ETH_LINK_UP;
  return 0;
}

int Stop(rte_eth_dev* dev) {
  RxInterruptsOff(PortOf(dev));
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; ++i) {
    dev->data->rx_queue_state[i] = RTE_ETH_QUEUE_STATE_STOPPED;
  }
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; ++i) {
    dev->data->tx_queue_state[i] = RTE_ETH_QUEUE_STATE_STOPPED;
  }
  dev->data->dev_link.link_status = RTE_ETH_LINK_DOWN;
  return 0;
}

// Closes the tap fd (the persistent tap stays, for the next agent or for KernelPorts to delete)
// and frees what ethdev does not: the queues and the interrupt handle. rte_eth_dev_close then
// releases the port, which rte_free()s data->mac_addrs: ours lies inside dev_private, freed in the
// same call, so it must not be freed on its own.
int Close(rte_eth_dev* dev) {
  if (rte_eal_process_type() != RTE_PROC_PRIMARY) return 0;
  VnetTapPort& port = PortOf(dev);
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; ++i) RxQueueRelease(dev, i);
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; ++i) TxQueueRelease(dev, i);
  RxInterruptsOff(port);
  rte_intr_instance_free(port.intr);
  port.intr = nullptr;
  dev->intr_handle = nullptr;
  if (port.fd >= 0) ::close(port.fd);
  port.fd = -1;
  dev->data->mac_addrs = nullptr;
  return 0;
}

int LinkUpdate(rte_eth_dev* dev, int /*wait_to_complete*/) {
  rte_eth_link link{};
  link.link_speed = RTE_ETH_SPEED_NUM_10G;
  link.link_duplex = RTE_ETH_LINK_FULL_DUPLEX;
  link.link_autoneg = RTE_ETH_LINK_FIXED;
  link.link_status = dev->data->dev_started != 0 ? RTE_ETH_LINK_UP : RTE_ETH_LINK_DOWN;
  return rte_eth_linkstatus_set(dev, &link);
}

int StatsGet(rte_eth_dev* dev, rte_eth_stats* stats) {
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; ++i) {
    const auto* queue = static_cast<const RxQueue*>(dev->data->rx_queues[i]);
    if (queue == nullptr) continue;
    stats->ipackets += queue->packets.Get();
    stats->ibytes += queue->bytes.Get();
    stats->ierrors += queue->errors.Get();
    stats->rx_nombuf += queue->no_mbufs.Get();
    if (i < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
      stats->q_ipackets[i] = queue->packets.Get();
      stats->q_ibytes[i] = queue->bytes.Get();
    }
  }
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; ++i) {
    const auto* queue = static_cast<const TxQueue*>(dev->data->tx_queues[i]);
    if (queue == nullptr) continue;
    stats->opackets += queue->packets.Get();
    stats->obytes += queue->bytes.Get();
    stats->oerrors += queue->errors.Get();
    if (i < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
      stats->q_opackets[i] = queue->packets.Get();
      stats->q_obytes[i] = queue->bytes.Get();
    }
  }
  return 0;
}

int StatsReset(rte_eth_dev* dev) {
  for (uint16_t i = 0; i < dev->data->nb_rx_queues; ++i) {
    auto* queue = static_cast<RxQueue*>(dev->data->rx_queues[i]);
    if (queue == nullptr) continue;
    queue->packets.Reset();
    queue->bytes.Reset();
    queue->errors.Reset();
    queue->no_mbufs.Reset();
  }
  for (uint16_t i = 0; i < dev->data->nb_tx_queues; ++i) {
    auto* queue = static_cast<TxQueue*>(dev->data->tx_queues[i]);
    if (queue == nullptr) continue;
    queue->packets.Reset();
    queue->bytes.Reset();
    queue->errors.Reset();
  }
  return 0;
}

// A tap delivers every frame its interface sends: there is no filter to open or close.
int NothingToFilter(rte_eth_dev* /*dev*/) { return 0; }
int NothingToArm(rte_eth_dev* /*dev*/, uint16_t /*queue_id*/) { return 0; }
// The kernel interface's MTU is the pod's (set over netlink by the pod's setup); ours only bounds
// what we accept, and any frame up to kVnetTapMaxFrame is read whole.
int MtuSet(rte_eth_dev* /*dev*/, uint16_t /*mtu*/) { return 0; }

// In the order eth_dev_ops declares them (C++ designated initializers must be); the rest are null.
// Constant-initialized, as the driver below must be: its registration runs as a constructor, which
// may come before this file's dynamic initialization.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const eth_dev_ops kOps = {
    .dev_configure = Configure,
    .dev_start = Start,
    .dev_stop = Stop,
    .dev_close = Close,
    .link_update = LinkUpdate,
    .promiscuous_enable = NothingToFilter,
    .promiscuous_disable = NothingToFilter,
    .allmulticast_enable = NothingToFilter,
    .allmulticast_disable = NothingToFilter,
    .mtu_set = MtuSet,
    .stats_get = StatsGet,
    .stats_reset = StatsReset,
    .dev_infos_get = InfosGet,
    .rx_queue_setup = RxQueueSetup,
    .rx_queue_release = RxQueueRelease,
    .rx_queue_intr_enable = NothingToArm,
    .rx_queue_intr_disable = NothingToArm,
    .tx_queue_setup = TxQueueSetup,
    .tx_queue_release = TxQueueRelease,
};
#pragma GCC diagnostic pop

// Probe.

int ProbeFailed(int error, const std::string& message) {
  last_probe_error = message;
  DPCNI_LOG(kError, "vnet_tap", message);
  return error;
}

// Opens the tap `ifname` (making it when missing) as one queue that speaks the virtio-net header,
// with `mac` as its interface's address. Returns the fd or -errno (last_probe_error says why).
int OpenTap(const char* ifname, const rte_ether_addr& mac) {
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return ProbeFailed(-errno, absl::StrCat("open /dev/net/tun: ", std::strerror(errno),
                                            " (the agent needs CAP_NET_ADMIN and /dev/net/tun)"));
  }
  auto fail = [fd](const std::string& what) {
    const int error = errno;
    ::close(fd);
    return ProbeFailed(-error, absl::StrCat(what, ": ", std::strerror(error)));
  };
  ifreq request{};
  std::strncpy(request.ifr_name, ifname, IFNAMSIZ - 1);
  // IFF_MULTI_QUEUE although we attach one queue: tun_set_iff refuses (EINVAL) to attach to an
  // existing tap whose multi-queue flag differs, and every tap a pod may already have was made
  // with it (CreatePersistentTap for vhost-net; net_tap's tun_alloc asks for it whenever the
  // kernel has it). The other flags (IFF_NO_PI, IFF_VNET_HDR) are the device's as set by its
  // first attached queue, so ours take effect on a tap an earlier agent made with net_tap, which
  // had neither.
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
  if (::ioctl(fd, TUNSETIFF, &request) != 0) {
    return fail(absl::StrCat("attach to tap ", ifname,
                             errno == EINVAL ? " (an interface of that name that is no "
                                               "multi-queue tap: delete it, or recreate the pod)"
                                             : ""));
  }
  // Persistent: the pod's eth0 outlives the agent, and the next agent attaches to it by name.
  if (::ioctl(fd, TUNSETPERSIST, 1) != 0)
    return fail(absl::StrCat("make tap ", ifname, " persistent"));
  // The header size is the device's, kept across attaches: set it every time, whoever made it.
  int header_size = kVnetHeaderSize;
  if (::ioctl(fd, TUNSETVNETHDRSZ, &header_size) != 0) {
    return fail(absl::StrCat("set the vnet header size of tap ", ifname));
  }
  // The interface's MAC is the pod's (its neighbours know it), set through the tun fd itself.
  ifreq address{};
  if (::ioctl(fd, SIOCGIFHWADDR, &address) != 0) {
    return fail(absl::StrCat("read the MAC of tap ", ifname));
  }
  if (std::memcmp(address.ifr_hwaddr.sa_data, mac.addr_bytes, RTE_ETHER_ADDR_LEN) != 0) {
    address.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memcpy(address.ifr_hwaddr.sa_data, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    if (::ioctl(fd, SIOCSIFHWADDR, &address) != 0) {
      return fail(absl::StrCat("set the MAC of tap ", ifname));
    }
  }
  return fd;
}

int Probe(rte_vdev_device* vdev) {
  last_probe_error.clear();
  const char* name = rte_vdev_device_name(vdev);
  if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
    return ProbeFailed(-ENOTSUP, absl::StrCat(name, ": vnet_tap runs in the primary process only"));
  }
  rte_kvargs* args = rte_kvargs_parse(rte_vdev_device_args(vdev), kValidKeys);
  if (args == nullptr) {
    return ProbeFailed(-EINVAL, absl::StrCat(name, ": bad devargs '", rte_vdev_device_args(vdev),
                                             "' (want iface=<tap>,mac=<address>)"));
  }
  const char* iface = rte_kvargs_get(args, kIfaceKey);
  const char* mac_text = rte_kvargs_get(args, kMacKey);
  rte_ether_addr mac{};
  if (iface == nullptr || iface[0] == '\0' || std::strlen(iface) >= IFNAMSIZ ||
      mac_text == nullptr || rte_ether_unformat_addr(mac_text, &mac) != 0) {
    rte_kvargs_free(args);
    return ProbeFailed(-EINVAL, absl::StrCat(name, ": devargs '", rte_vdev_device_args(vdev),
                                             "' need iface=<tap, at most ", IFNAMSIZ - 1,
                                             " characters>,mac=<xx:xx:xx:xx:xx:xx>"));
  }
  const std::string ifname = iface;
  rte_kvargs_free(args);

  const int fd = OpenTap(ifname.c_str(), mac);
  if (fd < 0) return fd;
  rte_eth_dev* dev = rte_eth_vdev_allocate(vdev, sizeof(VnetTapPort));
  rte_intr_handle* intr = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
  if (dev == nullptr || intr == nullptr || rte_intr_type_set(intr, RTE_INTR_HANDLE_EXT) != 0) {
    ::close(fd);
    rte_intr_instance_free(intr);
    if (dev != nullptr) rte_eth_dev_release_port(dev);
    return ProbeFailed(-ENOMEM, absl::StrCat(name,
                                             ": no memory for the ethdev (EAL memory: see "
                                             "eal.memory_mb)"));
  }
  VnetTapPort& port = PortOf(dev);
  port.fd = fd;
  std::strncpy(port.ifname, ifname.c_str(), IFNAMSIZ - 1);
  port.mac = mac;
  port.intr = intr;
  dev->intr_handle = intr;
  dev->dev_ops = &kOps;
  dev->rx_pkt_burst = RxBurst;
  dev->tx_pkt_burst = TxBurst;
  dev->data->mac_addrs = &port.mac;
  dev->data->dev_link.link_speed = RTE_ETH_SPEED_NUM_10G;
  dev->data->dev_link.link_duplex = RTE_ETH_LINK_FULL_DUPLEX;
  rte_eth_dev_probing_finish(dev);
  return 0;
}

int Remove(rte_vdev_device* vdev) {
  rte_eth_dev* dev = rte_eth_dev_allocated(rte_vdev_device_name(vdev));
  if (dev == nullptr) return 0;  // closed already
  if (dev->data->dev_started != 0) rte_eth_dev_stop(dev->data->port_id);
  return rte_eth_dev_close(dev->data->port_id);
}

}  // namespace

std::string VnetTapDevargs(const std::string& ifname, const std::string& mac) {
  return absl::StrCat(kIfaceKey, "=", ifname, ",", kMacKey, "=", mac);
}

std::string VnetTapLastProbeError() { return last_probe_error; }

}  // namespace dpcni::dataplane

// The registration runs as a constructor when the agent's binary loads, before EAL starts, as for
// DPDK's own drivers. Nothing else refers to this file's driver, so KernelPorts calls
// VnetTapDevargs: that keeps this object in the link (a static library's member that no one
// refers to is left out, constructor and all).
namespace {
// At global scope: the registration macro pastes the variable's name into a function's.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
rte_vdev_driver vnet_tap_driver = {
    .probe = dpcni::dataplane::Probe,
    .remove = dpcni::dataplane::Remove,
};
#pragma GCC diagnostic pop
}  // namespace

RTE_PMD_REGISTER_VDEV(vnet_tap, vnet_tap_driver);
RTE_PMD_REGISTER_PARAM_STRING(vnet_tap, "iface=<string> mac=<xx:xx:xx:xx:xx:xx>");
