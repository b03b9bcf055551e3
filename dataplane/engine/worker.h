// One forwarding worker: the poll loop that runs on an EAL lcore. It reads the ports to poll from
// an immutable list that the control plane swaps by atomic pointer, and reports an RCU quiescent
// state after every poll round, once its Tx buffers are flushed, so that after a grace period
// nothing the control plane removed can still be in use or buffered. The worker that polls the
// uplink also runs the neighbour resolver (it receives the ARP answers).
#pragma once

#include <rte_common.h>
#include <rte_config.h>
#include <rte_gso.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/unique_fd.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/icmp_rate_limit.h"
#include "dataplane/engine/idle_backoff.h"
#include "dataplane/engine/neighbour_resolver.h"
#include "dataplane/engine/packet_path.h"
#include "dataplane/engine/poll_schedule.h"

namespace dpcni::dataplane {

// The ports one worker polls. Never modified once published: changes publish a new list, with a
// generation greater than that of any list the worker was given before.
struct PollList {
  // Appends a port attached now, in this list's generation. `rx_interrupt_fd`: the file descriptor
  // that turns readable when the port's Rx queue 0 raises an interrupt (an eventfd for
  // virtio-user, the tap's fd for vnet_tap and net_tap), or -1 when the port has none.
  void Add(const IngressPort& port, int rx_interrupt_fd = -1);
  void Remove(uint16_t port_id);
  // Every port can wake a blocked worker (vacuously so with none).
  bool AllPortsInterrupt() const { return ports_without_interrupts == 0; }

  std::vector<IngressPort> ports;
  std::vector<ScheduledPort> schedule;  // ports[i] as the worker's PollSchedule sees it
  std::vector<int> rx_interrupt_fds;    // ports[i]'s, or -1
  size_t ports_without_interrupts = 0;
  uint64_t generation = 0;
  bool resolves_neighbours = false;  // the uplink is among the ports
  bool tracks_flows = false;         // the host port is among the ports: this worker writes flows
};

// How much a worker polled and slept, for tests and diagnostics.
struct WorkerActivity {
  uint64_t poll_rounds = 0;
  uint64_t full_poll_rounds = 0;  // rounds that polled every port (see PollSchedule)
  uint64_t port_polls = 0;        // Rx bursts attempted, over all rounds
  uint64_t active_ports = 0;      // ports polled every busy round, as of the last round
  uint64_t idle_sleeps = 0;
  uint64_t requested_sleep_us = 0;  // sum of the sleeps asked for (a signal may cut one short)
  uint64_t interrupt_blocks = 0;    // waits for an Rx interrupt (or the housekeeping tick)
  uint64_t interrupt_wakeups = 0;   // of those, the ones an event ended before the tick
};

struct WorkerSetup {
  unsigned index = 0;  // RCU thread id, and the Tx queue this worker uses on every port
  unsigned lcore = 0;
  rte_rcu_qsbr* rcu = nullptr;
  const std::atomic<bool>* stop = nullptr;
  RoutingView routing;
  uint16_t burst_size = 32;
  std::chrono::microseconds idle_sleep_max{0};
  rte_mempool* gso_direct_pool = nullptr;
  rte_mempool* gso_indirect_pool = nullptr;
  NeighbourResolver* resolver = nullptr;
  // ICMP errors: the mbufs they are built in, and how many this worker may send.
  rte_mempool* icmp_pool = nullptr;
  IcmpErrorConfig icmp_errors{};
};

class alignas(RTE_CACHE_LINE_SIZE) Worker final : private NeighbourSink {
 public:
  explicit Worker(const WorkerSetup& setup);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The lcore entry point for rte_eal_remote_launch; `worker` is a Worker*. Returns at stop.
  static int Main(void* worker);

  unsigned lcore() const { return setup_.lcore; }

  // Control plane: the list in force, and publishing its successor. The returned predecessor may
  // still be read by this worker until the next RCU grace period.
  const PollList& poll_list() const { return *poll_list_.load(std::memory_order_acquire); }
  // It also wakes the worker, which may be blocked waiting for the old list's interrupts.
  std::unique_ptr<const PollList> ReplacePollList(std::unique_ptr<const PollList> list);
  // Ends a blocking wait or a nap early (the engine calls it after asking the worker to stop).
  void Wake();

  PortCounterCells& counters(uint16_t port_id) { return counters_[port_id]; }
  const PortCounterCells& counters(uint16_t port_id) const { return counters_[port_id]; }
  WorkerActivity Activity() const;

 private:
  struct TxBuffer {
    uint16_t count = 0;
    bool pending = false;  // listed in pending_ports_ for this round's flush
    std::array<rte_mbuf*, kMaxBurstSize> packets;
  };

  void Run();
  // Receives and handles one burst from each of this round's ports (see PollSchedule), then
  // flushes; true if anything arrived.
  bool PollRound();
  // Routes the burst's common case together (RouteBurst), then each other packet on its own.
  void ProcessBurst(const IngressPort& ingress, rte_mbuf** packets, uint16_t count, uint64_t now);
  // A packet RouteBurst left: DecidePacket's verdict, carried out.
  void DecideAndAct(const IngressPort& ingress, rte_mbuf* packet, uint64_t now,
                    PortCounterCells& ingress_counters);
  // A packet from the host port routed toward `next_hop`: keeps its flow if replies need it.
  void TrackKernelFlow(const rte_mbuf* packet, const NextHop& next_hop, uint64_t now);
  // Sends a routed packet, through the offload path if it carries offload metadata.
  void Forward(rte_mbuf* packet, uint16_t port_id, const EgressCaps& caps,
               PortCounterCells& ingress_counters);
  // The path of packets that carry GSO or partial-checksum metadata (see offload.h).
  void ForwardWithOffloads(rte_mbuf* packet, uint16_t port_id, const EgressCaps& caps,
                           PortCounterCells& ingress_counters);
  // A packet routed to a remote node in VXLAN: finishes its offloads in software (GSO segments
  // cut to the inner MTU, inner checksums), then encapsulates and sends each packet.
  void Encapsulate(rte_mbuf* packet, const NextHop& next_hop, uint16_t ingress_port,
                   PortCounterCells& ingress_counters);
  // A packet dropped with an ICMP error for its sender: sends it back on the ingress port, from the
  // gateway (pods, the host port) or the node's uplink address, within the rate limit.
  void SendIcmpError(const IngressPort& ingress, const rte_mbuf* packet, IcmpError error,
                     uint16_t mtu, uint64_t now, PortCounterCells& ingress_counters);
  // ARP from the uplink: refreshes the sender's neighbour entry, answers a request for the node.
  void HandleNeighbourArp(const IngressPort& uplink, rte_mbuf* packet,
                          PortCounterCells& ingress_counters);

  // NeighbourSink: the resolver's output, on this worker's Tx buffers and counters.
  void ForwardResolved(rte_mbuf* packet, uint16_t ingress_port) override;
  void SendArpRequest(rte_mbuf* request) override;
  void DropHeld(rte_mbuf* packet, uint16_t ingress_port, DropReason reason) override;
  void Enqueue(uint16_t port_id, rte_mbuf* packet);
  // Kept out of line so that Enqueue, called per packet, stays small enough to inline.
  __rte_noinline void Flush(uint16_t port_id);
  void FlushPending();
  // Idle: the step backoff_ chose after a round that found nothing.
  void Idle();
  void Sleep(std::chrono::microseconds duration);
  // Waits in epoll for a port's interrupt or Wake(), `timeout` at most; true if one came first.
  bool WaitForEvent(std::chrono::microseconds timeout);
  // Takes the interrupt fds of a new poll list into the epoll set, dropping the old list's.
  void AdoptInterruptSources(const PollList& list);
  void SetRxInterrupts(bool armed);

  const WorkerSetup setup_;
  std::atomic<const PollList*> poll_list_;
  IdleBackoff backoff_;
  PollSchedule schedule_;
  IcmpRateLimit icmp_limit_;
  rte_gso_ctx gso_{};
  std::vector<uint16_t> pending_ports_;
  std::array<TxBuffer, RTE_MAX_ETHPORTS> tx_buffers_{};
  std::array<PortCounterCells, RTE_MAX_ETHPORTS> counters_;
  SingleWriterCounter poll_rounds_;
  SingleWriterCounter full_poll_rounds_;
  SingleWriterCounter port_polls_;
  std::atomic<uint64_t> active_ports_{0};
  SingleWriterCounter idle_sleeps_;
  SingleWriterCounter requested_sleep_us_;
  SingleWriterCounter interrupt_blocks_;
  SingleWriterCounter interrupt_wakeups_;

  // Rx interrupts (see IdleBackoff): an epoll set of the polled ports' interrupt fds and wake_fd_,
  // all edge-triggered, so nothing ever has to be read to clear them. -1 if the set could not be
  // made: the worker then naps on timers only.
  struct InterruptSource {
    uint16_t port_id;
    uint64_t since_generation;  // with the port id, tells a reused port id from the same port
    int fd;
  };
  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;  // an eventfd the control plane writes (Wake)
  std::vector<InterruptSource> interrupt_sources_;
  bool ports_interrupt_ = false;  // the list in force: PollList::AllPortsInterrupt
  // A block ended by an event: disarm at the next round, once the poll list is read again (the
  // block itself ran offline, when the list's ports may have gone).
  bool disarm_pending_ = false;
};

}  // namespace dpcni::dataplane
