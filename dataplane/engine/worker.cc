#include "dataplane/engine/worker.h"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>

#include "common/log.h"
#include "dataplane/engine/offload.h"

namespace dpcni::dataplane {
namespace {

// Room for the software GSO segments of one packet: a 64 KiB packet cut at an MSS of 512 or more.
constexpr uint16_t kMaxGsoSegments = 128;
// The longest a worker blocked on Rx interrupts stays away: it then polls once, which runs its
// timers (the flow table's sweep, offered flows). Ten wake-ups a second cost an idle node nothing
// measurable.
constexpr std::chrono::microseconds kHousekeepingTick{100'000};

// DPDK's net_tap (the tap backend until vnet_tap replaced it, which raises no signal: for it this
// does nothing) reads a queue only once its real-time Rx signal's handler has run (tap_trigger),
// and it asks the kernel to signal the process (F_SETOWN), which hands the signal to any thread:
// usually the agent's main thread, asleep on another CPU, so the frame waits for that thread to be
// woken and scheduled. While the worker blocks, its poll after the wake-up would then find nothing,
// and it could block again with the frame waiting; while it is busy, each reply waits the same way.
// So the polling worker takes the signal for itself (F_SETOWN_EX to its thread, called on it):
// the kernel raises the signal before it marks the fd readable, so the handler has run when the
// worker returns from the wait, or from the write that made a pod answer. Measured in one run
// (bench/pods/idle.sh, 10 pods): pod-to-pod ping 0.069 ms before, 0.035 ms after, TCP unchanged.
//
// Returns the signal the worker must raise itself after an event on `fd`, as a fallback when the
// fd signals but could not be redirected; 0 when nothing is to be done.
int TakeRxSignal(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_ASYNC) == 0) return 0;
  const int signal = fcntl(fd, F_GETSIG);
  if (signal <= 0) return 0;
  f_owner_ex owner{.type = F_OWNER_TID, .pid = gettid()};
  return fcntl(fd, F_SETOWN_EX, &owner) == 0 ? 0 : signal;
}

timespec ToTimespec(std::chrono::microseconds duration) {
  return timespec{.tv_sec = static_cast<time_t>(duration.count() / 1'000'000),
                  .tv_nsec = static_cast<long>(duration.count() % 1'000'000) * 1000};
}

void PrefetchHeaders(const rte_mbuf* packet) { rte_prefetch0(rte_pktmbuf_mtod(packet, void*)); }

uint64_t ToCycles(std::chrono::microseconds duration) {
  return static_cast<uint64_t>(duration.count()) * rte_get_tsc_hz() / 1'000'000;
}

}  // namespace

void PollList::Add(const IngressPort& port, int rx_interrupt_fd) {
  ports.push_back(port);
  schedule.push_back(ScheduledPort{.port_id = port.port_id, .since_generation = generation});
  rx_interrupt_fds.push_back(rx_interrupt_fd);
  ports_without_interrupts += rx_interrupt_fd < 0 ? 1 : 0;
  resolves_neighbours |= port.role == PortRole::kUplink;
  tracks_flows |= port.role == PortRole::kHost;
}

void PollList::Remove(uint16_t port_id) {
  auto listed = std::find_if(ports.begin(), ports.end(), [port_id](const IngressPort& port) {
    return port.port_id == port_id;
  });
  if (listed == ports.end()) {
    return;
  }
  const auto position = listed - ports.begin();
  schedule.erase(schedule.begin() + position);
  ports_without_interrupts -= rx_interrupt_fds[position] < 0 ? 1 : 0;
  rx_interrupt_fds.erase(rx_interrupt_fds.begin() + position);
  ports.erase(listed);
}

Worker::Worker(const WorkerSetup& setup)
    : setup_(setup),
      poll_list_(new PollList()),
      backoff_(setup.idle_sleep_max),
      schedule_(ToCycles(kPortIdleAfter)),
      icmp_limit_(setup.icmp_errors.per_second, setup.icmp_errors.burst, rte_get_tsc_hz()) {
  gso_.direct_pool = setup.gso_direct_pool;
  gso_.indirect_pool = setup.gso_indirect_pool;
  gso_.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
  gso_.flag = 0;  // incremental IP ids, as the sender's own stack would produce
  pending_ports_.reserve(RTE_MAX_ETHPORTS);
  epoll_fd_.Reset(epoll_create1(EPOLL_CLOEXEC));
  wake_fd_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event wake{.events = EPOLLIN | EPOLLET, .data = {.u64 = 0}};
  if (!epoll_fd_ || !wake_fd_ ||
      epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &wake) != 0) {
    DPCNI_LOG(kWarning, "engine", "worker ", setup.index,
              ": no epoll set for Rx interrupts (errno ", errno,
              "); an idle worker naps on timers only");
    epoll_fd_.Reset();
  }
}

Worker::~Worker() { delete poll_list_.load(std::memory_order_relaxed); }

std::unique_ptr<const PollList> Worker::ReplacePollList(std::unique_ptr<const PollList> list) {
  std::unique_ptr<const PollList> previous(
      poll_list_.exchange(list.release(), std::memory_order_acq_rel));
  Wake();
  return previous;
}

void Worker::Wake() {
  if (!wake_fd_) return;
  const uint64_t one = 1;
  // Edge-triggered: every write wakes the epoll set, so the counter is never read down. EAGAIN
  // would need 2^64 - 1 wake-ups.
  [[maybe_unused]] ssize_t written = write(wake_fd_.get(), &one, sizeof(one));
}

WorkerActivity Worker::Activity() const {
  return {.poll_rounds = poll_rounds_.Read(),
          .full_poll_rounds = full_poll_rounds_.Read(),
          .port_polls = port_polls_.Read(),
          .active_ports = active_ports_.load(std::memory_order_relaxed),
          .idle_sleeps = idle_sleeps_.Read(),
          .requested_sleep_us = requested_sleep_us_.Read(),
          .interrupt_blocks = interrupt_blocks_.Read(),
          .interrupt_wakeups = interrupt_wakeups_.Read()};
}

int Worker::Main(void* worker) {
  static_cast<Worker*>(worker)->Run();
  return 0;
}

// Arming and disarming touch the ports' queues (virtio-user's ring flags), so they happen only
// while the worker is online and holds the poll list it read: once it reports quiescent or goes
// offline, the control plane may finish removing a port of that list and free its queues. A
// disarm after a block waits for the next round (disarm_pending_), and a new list's arrival
// disarms only the ports it keeps.
void Worker::Run() {
  rte_rcu_qsbr_thread_online(setup_.rcu, setup_.index);
  while (!setup_.stop->load(std::memory_order_relaxed)) {
    bool received = PollRound();
    poll_rounds_.Add(1);
    if (received) {
      if (backoff_.Traffic()) SetRxInterrupts(false);
      // Everything read from the poll list and routes this round is released, Tx buffers
      // included.
      rte_rcu_qsbr_quiescent(setup_.rcu, setup_.index);
    } else {
      Idle();
    }
  }
  if (backoff_.armed()) SetRxInterrupts(false);
  rte_rcu_qsbr_thread_offline(setup_.rcu, setup_.index);
}

void Worker::Idle() {
  const bool ports_interrupt = epoll_fd_ && ports_interrupt_;
  switch (backoff_.AfterIdleRound(ports_interrupt)) {
    case IdleBackoff::Step::kPoll:
      rte_rcu_qsbr_quiescent(setup_.rcu, setup_.index);
      return;
    case IdleBackoff::Step::kArm:
      SetRxInterrupts(true);
      rte_rcu_qsbr_quiescent(setup_.rcu, setup_.index);
      return;  // the next round polls once more, now armed (see IdleBackoff::AfterIdleRound)
    case IdleBackoff::Step::kNap:
    case IdleBackoff::Step::kBlock:
      break;
  }
  const bool block = backoff_.armed();
  // Offline (which is quiescent too), the control plane's grace periods need not wait for our nap
  // or block. What we may still touch then is the epoll set, whose fds the kernel drops itself
  // when a removed port is closed; not the ports.
  rte_rcu_qsbr_thread_offline(setup_.rcu, setup_.index);
  if (block) {
    interrupt_blocks_.Add(1);
    const bool woken = WaitForEvent(kHousekeepingTick);
    interrupt_wakeups_.Add(woken ? 1 : 0);
    if (backoff_.AfterBlock(woken)) disarm_pending_ = true;
  } else {
    Sleep(backoff_.nap());
  }
  rte_rcu_qsbr_thread_online(setup_.rcu, setup_.index);
}

void Worker::SetRxInterrupts(bool armed) {
  // virtio-user arms by clearing its ring's "no interrupt" flag, a write to shared memory, so a
  // busy worker that disarmed makes vhost-net skip the eventfd. The tap backend's vnet_tap has
  // nothing to arm (its fd is readable whenever a frame waits) and succeeds; net_tap returns
  // -ENOTSUP, which is as good.
  for (const InterruptSource& source : interrupt_sources_) {
    if (armed) {
      rte_eth_dev_rx_intr_enable(source.port_id, 0);
    } else {
      rte_eth_dev_rx_intr_disable(source.port_id, 0);
    }
  }
}

bool Worker::WaitForEvent(std::chrono::microseconds timeout) {
  // epoll_pwait2 for a timeout in microseconds (rte_epoll_wait takes milliseconds): the same call
  // serves the backoff's short naps. Kernel 5.11 and glibc 2.35 have it.
  epoll_event events[8];
  const timespec limit = ToTimespec(timeout);
  const int ready = epoll_pwait2(epoll_fd_.get(), events, std::size(events), &limit, nullptr);
  // EINTR: a signal (net_tap's Rx signal among them) is as good as an event.
  if (ready < 0) return errno == EINTR;
  // A fd whose Rx signal could not be taken (TakeRxSignal): raising it on this thread runs
  // net_tap's handler before raise() returns, so the next poll reads. A spurious one only makes it
  // read.
  int raised = 0;
  for (int i = 0; i < ready; ++i) {
    const int signal = static_cast<int>(events[i].data.u64 >> 32);
    if (signal != 0 && signal != raised) {
      raise(signal);
      raised = signal;
    }
  }
  return ready > 0;
}

void Worker::AdoptInterruptSources(const PollList& list) {
  // Armed, the worker disarms as traffic would, so that the next arming covers exactly this list's
  // ports (and a port without interrupts in it keeps the worker napping). Only the ports this list
  // keeps are disarmed (below): a port it dropped may be closed by now.
  const bool disarm = backoff_.armed() || disarm_pending_;
  if (backoff_.armed()) backoff_.Traffic();
  disarm_pending_ = false;
  ports_interrupt_ = list.AllPortsInterrupt();
  if (!epoll_fd_) return;
  // Drop what left or changed first: a removed port's fd number may already belong to a port of
  // this list, whose registration must come after. A DEL may find the fd closed (EBADF) or the
  // number reused by a file not in the set (ENOENT): either way it is out of the set.
  std::vector<InterruptSource> kept;
  for (const InterruptSource& source : interrupt_sources_) {
    bool listed = false;
    for (size_t i = 0; i < list.ports.size(); ++i) {
      listed |= list.schedule[i].port_id == source.port_id &&
                list.schedule[i].since_generation == source.since_generation &&
                list.rx_interrupt_fds[i] == source.fd;
    }
    if (listed) {
      if (disarm) rte_eth_dev_rx_intr_disable(source.port_id, 0);
      kept.push_back(source);
    } else {
      epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, source.fd, nullptr);
    }
  }
  for (size_t i = 0; i < list.ports.size(); ++i) {
    const int fd = list.rx_interrupt_fds[i];
    if (fd < 0) continue;
    const InterruptSource source{list.schedule[i].port_id, list.schedule[i].since_generation, fd};
    bool known = false;
    for (const InterruptSource& have : kept) {
      known |= have.port_id == source.port_id && have.since_generation == source.since_generation;
    }
    if (known) continue;
    epoll_event event{
        .events = EPOLLIN | EPOLLET,
        .data = {.u64 = static_cast<uint64_t>(TakeRxSignal(fd)) << 32 | source.port_id}};
    if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      // Unseen, the port could wait for the tick: the worker naps instead of blocking.
      DPCNI_LOG(kWarning, "engine", "worker ", setup_.index, ": port ", source.port_id,
                " Rx interrupt fd ", fd, " not added to epoll (errno ", errno,
                "); this worker naps instead of blocking");
      ports_interrupt_ = false;
      continue;
    }
    rte_eth_dev_rx_intr_disable(source.port_id, 0);  // armed only when the worker goes idle
    kept.push_back(source);
  }
  interrupt_sources_ = std::move(kept);
}

bool Worker::PollRound() {
  const PollList* list = poll_list_.load(std::memory_order_acquire);
  const uint64_t now = rte_rdtsc();
  if (unlikely(list->generation != schedule_.generation())) {
    schedule_.Adopt(list->generation, list->schedule, now);
    AdoptInterruptSources(*list);
  } else if (unlikely(disarm_pending_)) {
    SetRxInterrupts(false);
    disarm_pending_ = false;
  }
  PollSchedule::RoundResult round = schedule_.Round(now, [&](size_t position) {
    const IngressPort& ingress = list->ports[position];
    rte_mbuf* packets[kMaxBurstSize];
    uint16_t count = rte_eth_rx_burst(ingress.port_id, 0, packets, setup_.burst_size);
    if (count == 0) {
      return false;
    }
    ProcessBurst(ingress, packets, count, now);
    return true;
  });
  port_polls_.Add(round.polled);
  full_poll_rounds_.Add(round.full ? 1 : 0);
  active_ports_.store(schedule_.active_ports(), std::memory_order_relaxed);
  if (list->resolves_neighbours) {
    setup_.resolver->Service(rte_rdtsc(), *this);
  }
  if (list->tracks_flows && setup_.routing.flows != nullptr) {
    setup_.routing.flows->TakeOffered(now);
    setup_.routing.flows->Sweep(now);
  }
  FlushPending();
  return round.received;
}

// Called per packet: always inlined, the rare flush stays out of line.
__rte_always_inline void Worker::Enqueue(uint16_t port_id, rte_mbuf* packet) {
  TxBuffer& buffer = tx_buffers_[port_id];
  buffer.packets[buffer.count++] = packet;
  if (!buffer.pending) {
    buffer.pending = true;
    pending_ports_.push_back(port_id);
  }
  if (unlikely(buffer.count == setup_.burst_size)) {
    Flush(port_id);
  }
}

__rte_always_inline void Worker::Forward(rte_mbuf* packet, uint16_t port_id, const EgressCaps& caps,
                                         PortCounterCells& ingress_counters) {
  if (likely(!HasOffloadMetadata(packet))) {
    Enqueue(port_id, packet);
  } else {
    ForwardWithOffloads(packet, port_id, caps, ingress_counters);
  }
}

void Worker::TrackKernelFlow(const rte_mbuf* packet, const NextHop& next_hop, uint64_t now) {
  KernelFlow flow;
  if (KernelFlowOf(setup_.routing, packet, next_hop, &flow)) {
    setup_.routing.flows->Track(flow, now);
  }
}

void Worker::ProcessBurst(const IngressPort& ingress, rte_mbuf** packets, uint16_t count,
                          uint64_t now) {
  PortCounterCells& ingress_counters = counters_[ingress.port_id];
  // RouteBurst reads every packet's headers in its first pass: ask for them all at once.
  for (uint16_t i = 0; i < count; ++i) {
    PrefetchHeaders(packets[i]);
  }
  const NextHop* routed[kMaxBurstSize];
  RouteBurst(setup_.routing, ingress, packets, count, routed);
  uint64_t bytes = 0;
  // In the burst's order, so that each egress port sends its packets in the order they came.
  for (uint16_t i = 0; i < count; ++i) {
    rte_mbuf* packet = packets[i];
    bytes += packet->pkt_len;
    if (likely(routed[i] != nullptr)) {
      Forward(packet, routed[i]->port_id, routed[i]->caps, ingress_counters);
    } else {
      DecideAndAct(ingress, packet, now, ingress_counters);
    }
  }
  ingress_counters.rx_packets.Add(count);
  ingress_counters.rx_bytes.Add(bytes);
}

void Worker::DecideAndAct(const IngressPort& ingress, rte_mbuf* packet, uint64_t now,
                          PortCounterCells& ingress_counters) {
  const Verdict verdict = DecidePacket(setup_.routing, ingress, packet, now);
  if (ingress.role == PortRole::kHost && setup_.routing.flows != nullptr &&
      (verdict.action == Action::kForward || verdict.action == Action::kResolve ||
       verdict.action == Action::kEncapsulate)) {
    TrackKernelFlow(packet, *verdict.next_hop, now);
  }
  if (verdict.decapsulated) {
    ingress_counters.CountEvent(PortEvent::kVxlanDecapsulated);
  }
  switch (verdict.action) {
    case Action::kForward:
      Forward(packet, verdict.next_hop->port_id, verdict.next_hop->caps, ingress_counters);
      break;
    case Action::kEncapsulate:
      Encapsulate(packet, *verdict.next_hop, ingress.port_id, ingress_counters);
      break;
    case Action::kToKernel:
      setup_.routing.flows->CountHit(setup_.index);
      Forward(packet, verdict.next_hop->port_id, verdict.next_hop->caps, ingress_counters);
      break;
    case Action::kToNode:
      ingress_counters.CountEvent(PortEvent::kToNode);
      Forward(packet, verdict.next_hop->port_id, verdict.next_hop->caps, ingress_counters);
      break;
    case Action::kResolve:
      if (!setup_.resolver->HandOver(packet, verdict.neighbour_ip, ingress.port_id)) {
        ingress_counters.CountDrop(DropReason::kNeighbourQueueFull);
        rte_pktmbuf_free(packet);
      }
      break;
    case Action::kReplyToSender:
      ingress_counters.CountEvent(PortEvent::kArpReplied);
      Enqueue(ingress.port_id, packet);
      break;
    case Action::kNeighbourArp:
      HandleNeighbourArp(ingress, packet, ingress_counters);
      break;
    case Action::kDrop:
      ingress_counters.CountDrop(verdict.drop_reason);
      if (unlikely(verdict.icmp_error != IcmpError::kNone)) {
        SendIcmpError(ingress, packet, verdict.icmp_error, verdict.icmp_mtu, now, ingress_counters);
      }
      rte_pktmbuf_free(packet);
      break;
  }
}

void Worker::ForwardWithOffloads(rte_mbuf* packet, uint16_t port_id, const EgressCaps& caps,
                                 PortCounterCells& ingress_counters) {
  rte_mbuf* egress[kMaxGsoSegments];
  EgressPackets prepared = PrepareForEgress(packet, caps, gso_, egress, kMaxGsoSegments);
  if (prepared.count == 0) {
    ingress_counters.CountDrop(prepared.drop_reason);
    rte_pktmbuf_free(packet);
    return;
  }
  for (uint16_t i = 0; i < prepared.count; ++i) {
    if (RequestsTxOffload(egress[i]) &&
        rte_eth_tx_prepare(port_id, setup_.index, &egress[i], 1) != 1) {
      ingress_counters.CountDrop(DropReason::kOffloadFailed);
      rte_pktmbuf_free(egress[i]);
      continue;
    }
    Enqueue(port_id, egress[i]);
  }
}

void Worker::Encapsulate(rte_mbuf* packet, const NextHop& next_hop, uint16_t ingress_port,
                         PortCounterCells& ingress_counters) {
  // From the whole packet: its GSO segments share the flow, and so the outer source port.
  const uint16_t source_port = VxlanSourcePort(packet);
  rte_mbuf* inner[kMaxGsoSegments];
  uint16_t count = 1;
  inner[0] = packet;
  if (unlikely(HasOffloadMetadata(packet))) {
    // next_hop.caps asks for nothing from the uplink: the segments come out at the inner MTU with
    // their checksums computed here.
    EgressPackets prepared = PrepareForEgress(packet, next_hop.caps, gso_, inner, kMaxGsoSegments);
    if (prepared.count == 0) {
      ingress_counters.CountDrop(prepared.drop_reason);
      rte_pktmbuf_free(packet);
      return;
    }
    count = prepared.count;
  }
  PortCounterCells& uplink_counters = counters_[next_hop.port_id];
  for (uint16_t i = 0; i < count; ++i) {
    rte_mbuf* outer = inner[i];
    Verdict verdict =
        EncapsulateVxlan(setup_.routing, next_hop, &outer, source_port, setup_.gso_direct_pool);
    switch (verdict.action) {
      case Action::kForward:
        uplink_counters.CountEvent(PortEvent::kVxlanEncapsulated);
        Enqueue(next_hop.port_id, outer);
        break;
      case Action::kResolve:
        uplink_counters.CountEvent(PortEvent::kVxlanEncapsulated);
        if (!setup_.resolver->HandOver(outer, verdict.neighbour_ip, ingress_port)) {
          ingress_counters.CountDrop(DropReason::kNeighbourQueueFull);
          rte_pktmbuf_free(outer);
        }
        break;
      default:
        ingress_counters.CountDrop(verdict.drop_reason);
        rte_pktmbuf_free(outer);
        break;
    }
  }
}

void Worker::SendIcmpError(const IngressPort& ingress, const rte_mbuf* packet, IcmpError error,
                           uint16_t mtu, uint64_t now, PortCounterCells& ingress_counters) {
  if (!icmp_limit_.Allow(now)) {
    ingress_counters.CountEvent(PortEvent::kIcmpErrorRateLimited);
    return;
  }
  // The engine answers as the router the sender knows on that side: the pods' gateway (the host
  // port's kernel routes the pod CIDR through it too), or on the uplink the node's own address.
  const bool uplink = ingress.role == PortRole::kUplink;
  rte_mbuf* reply =
      BuildIcmpError(packet, error, mtu, uplink ? ingress.mac : setup_.routing.gateway_mac,
                     uplink ? ingress.ip : setup_.routing.gateway_ip, setup_.icmp_pool);
  if (reply == nullptr) {
    // The pool is empty (replies still sit in Tx rings): the drop was counted, the error is lost as
    // one the rate limit held back would be.
    ingress_counters.CountEvent(PortEvent::kIcmpErrorRateLimited);
    return;
  }
  ingress_counters.CountEvent(PortEvent::kIcmpErrorSent);
  Enqueue(ingress.port_id, reply);
}

void Worker::HandleNeighbourArp(const IngressPort& uplink, rte_mbuf* packet,
                                PortCounterCells& ingress_counters) {
  const rte_arp_ipv4& body = ArpHeader(packet)->arp_data;
  const rte_ether_addr sender_mac = body.arp_sha;
  const bool learned = setup_.resolver->Learn(body.arp_sip, sender_mac, rte_rdtsc(), *this);
  Verdict answer = AnswerNodeArp(uplink, packet);
  if (answer.action == Action::kReplyToSender) {
    ingress_counters.CountEvent(PortEvent::kArpReplied);
    Enqueue(uplink.port_id, packet);
    return;
  }
  // An answer we asked for (or news of a tracked neighbour) was used, not dropped.
  if (!learned) {
    ingress_counters.CountDrop(answer.drop_reason);
  }
  rte_pktmbuf_free(packet);
}

void Worker::ForwardResolved(rte_mbuf* packet, uint16_t ingress_port) {
  const UplinkAddress& uplink = setup_.resolver->uplink();
  Forward(packet, uplink.port_id, uplink.caps, counters_[ingress_port]);
}

void Worker::SendArpRequest(rte_mbuf* request) {
  const uint16_t uplink_port = setup_.resolver->uplink().port_id;
  counters_[uplink_port].CountEvent(PortEvent::kArpRequested);
  Enqueue(uplink_port, request);
}

void Worker::DropHeld(rte_mbuf* packet, uint16_t ingress_port, DropReason reason) {
  counters_[ingress_port].CountDrop(reason);
  rte_pktmbuf_free(packet);
}

void Worker::Flush(uint16_t port_id) {
  TxBuffer& buffer = tx_buffers_[port_id];
  if (buffer.count == 0) {
    return;
  }
  // Count bytes first: once sent, the driver owns (and may free) the mbufs.
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < buffer.count; ++i) {
    bytes += buffer.packets[i]->pkt_len;
  }
  uint16_t sent = rte_eth_tx_burst(port_id, setup_.index, buffer.packets.data(), buffer.count);
  PortCounterCells& egress_counters = counters_[port_id];
  if (unlikely(sent < buffer.count)) {
    for (uint16_t i = sent; i < buffer.count; ++i) {
      bytes -= buffer.packets[i]->pkt_len;
      rte_pktmbuf_free(buffer.packets[i]);
    }
    egress_counters.CountDrop(DropReason::kTxFull, buffer.count - sent);
  }
  egress_counters.tx_packets.Add(sent);
  egress_counters.tx_bytes.Add(bytes);
  buffer.count = 0;
}

void Worker::FlushPending() {
  for (uint16_t port_id : pending_ports_) {
    Flush(port_id);
    tx_buffers_[port_id].pending = false;
  }
  pending_ports_.clear();
}

void Worker::Sleep(std::chrono::microseconds duration) {
  requested_sleep_us_.Add(duration.count());
  idle_sleeps_.Add(1);
  if (epoll_fd_) {
    // A frame on a tap (whose fd is in the set whether armed or not) or Wake() ends the nap early.
    WaitForEvent(duration);
    return;
  }
  const timespec nap = ToTimespec(duration);
  // An interruption (net_tap signals Rx with a real-time signal) just ends the nap early: the next
  // poll round looks at the ports anyway.
  clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, nullptr);
}

}  // namespace dpcni::dataplane
