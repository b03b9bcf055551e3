#include "dataplane/engine/worker.h"

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <ctime>

#include "dataplane/engine/offload.h"

namespace dpcni::dataplane {
namespace {

// How many packets ahead of the one being handled we prefetch (as l3fwd does).
constexpr uint16_t kPrefetchAhead = 3;
// Room for the software GSO segments of one packet: a 64 KiB packet cut at an MSS of 512 or more.
constexpr uint16_t kMaxGsoSegments = 128;

void PrefetchHeaders(const rte_mbuf* packet) { rte_prefetch0(rte_pktmbuf_mtod(packet, void*)); }

uint64_t ToCycles(std::chrono::microseconds duration) {
  return static_cast<uint64_t>(duration.count()) * rte_get_tsc_hz() / 1'000'000;
}

}  // namespace

void PollList::Add(const IngressPort& port) {
  ports.push_back(port);
  schedule.push_back(ScheduledPort{.port_id = port.port_id, .since_generation = generation});
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
  schedule.erase(schedule.begin() + (listed - ports.begin()));
  ports.erase(listed);
}

Worker::Worker(const WorkerSetup& setup)
    : setup_(setup),
      poll_list_(new PollList()),
      schedule_(ToCycles(kPortIdleAfter)),
      icmp_limit_(setup.icmp_errors.per_second, setup.icmp_errors.burst, rte_get_tsc_hz()) {
  gso_.direct_pool = setup.gso_direct_pool;
  gso_.indirect_pool = setup.gso_indirect_pool;
  gso_.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
  gso_.flag = 0;  // incremental IP ids, as the sender's own stack would produce
  pending_ports_.reserve(RTE_MAX_ETHPORTS);
}

Worker::~Worker() { delete poll_list_.load(std::memory_order_relaxed); }

std::unique_ptr<const PollList> Worker::ReplacePollList(std::unique_ptr<const PollList> list) {
  return std::unique_ptr<const PollList>(
      poll_list_.exchange(list.release(), std::memory_order_acq_rel));
}

WorkerActivity Worker::Activity() const {
  return {.poll_rounds = poll_rounds_.Read(),
          .full_poll_rounds = full_poll_rounds_.Read(),
          .port_polls = port_polls_.Read(),
          .active_ports = active_ports_.load(std::memory_order_relaxed),
          .idle_sleeps = idle_sleeps_.Read(),
          .requested_sleep_us = requested_sleep_us_.Read()};
}

int Worker::Main(void* worker) {
  static_cast<Worker*>(worker)->Run();
  return 0;
}

void Worker::Run() {
  IdleBackoff backoff(setup_.idle_sleep_max);
  rte_rcu_qsbr_thread_online(setup_.rcu, setup_.index);
  while (!setup_.stop->load(std::memory_order_relaxed)) {
    bool received = PollRound();
    // Everything read from the poll list and routes this round is released, Tx buffers included.
    rte_rcu_qsbr_quiescent(setup_.rcu, setup_.index);
    poll_rounds_.Add(1);
    if (received) {
      backoff.Reset();
    } else if (backoff.enabled()) {
      // Offline, the control plane's grace periods need not wait for our nap.
      rte_rcu_qsbr_thread_offline(setup_.rcu, setup_.index);
      Sleep(backoff.NextSleep());
      rte_rcu_qsbr_thread_online(setup_.rcu, setup_.index);
    }
  }
  rte_rcu_qsbr_thread_offline(setup_.rcu, setup_.index);
}

bool Worker::PollRound() {
  const PollList* list = poll_list_.load(std::memory_order_acquire);
  const uint64_t now = rte_rdtsc();
  if (unlikely(list->generation != schedule_.generation())) {
    schedule_.Adopt(list->generation, list->schedule, now);
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
  const bool from_kernel = ingress.role == PortRole::kHost && setup_.routing.flows != nullptr;
  PortCounterCells& ingress_counters = counters_[ingress.port_id];
  for (uint16_t i = 0; i < count && i < kPrefetchAhead; ++i) {
    PrefetchHeaders(packets[i]);
  }
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < count; ++i) {
    if (i + kPrefetchAhead < count) {
      PrefetchHeaders(packets[i + kPrefetchAhead]);
    }
    rte_mbuf* packet = packets[i];
    bytes += packet->pkt_len;
    Verdict verdict = DecidePacket(setup_.routing, ingress, packet, now);
    if (from_kernel && (verdict.action == Action::kForward || verdict.action == Action::kResolve ||
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
          SendIcmpError(ingress, packet, verdict.icmp_error, verdict.icmp_mtu, now,
                        ingress_counters);
        }
        rte_pktmbuf_free(packet);
        break;
    }
  }
  ingress_counters.rx_packets.Add(count);
  ingress_counters.rx_bytes.Add(bytes);
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
  timespec nap{.tv_sec = static_cast<time_t>(duration.count() / 1'000'000),
               .tv_nsec = static_cast<long>(duration.count() % 1'000'000) * 1000};
  // An interruption (net_tap signals Rx with a real-time signal) just ends the nap early: the next
  // poll round looks at the ports anyway.
  clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, nullptr);
}

}  // namespace dpcni::dataplane
