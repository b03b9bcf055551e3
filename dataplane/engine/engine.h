// The forwarding engine: worker lcores that poll every attached port, route IPv4 with rte_lpm and
// transmit in buffered bursts. Besides the pods' ports it drives two edge ports: the host port (the
// node's kernel, reached through virtio-user or a tap) and the uplink (a NIC or an af_packet/af_xdp
// port on the node's network, whose neighbours it resolves with ARP). The control plane (gRPC
// threads) attaches and detaches ports; changes are published to the workers with RCU
// (rte_rcu_qsbr), so the fast path takes no locks.
#pragma once

#include <rte_ether.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni::dataplane {

// How long a flow the node's kernel forwarded may go unseen, in either direction, before the engine
// forgets it (see flow_table.h). Each must be at least the kernel's conntrack timeout of the same
// state: a flow forgotten here while the kernel still NATs it has its replies switched directly
// again, and the client resets or ignores them.
struct FlowTimeouts {
  std::chrono::seconds tcp_established{86'400};  // kube-proxy sets conntrack's to 24 h
  std::chrono::seconds tcp_transitory{120};      // opening (SYN), closing (FIN) or reset (RST)
  std::chrono::seconds udp{30};                  // not answered yet
  std::chrono::seconds udp_stream{180};          // answered
  std::chrono::seconds icmp{30};
  std::chrono::seconds other{600};
};

struct FlowTableConfig {
  uint32_t capacity = 65'536;  // 0: flows are not tracked, replies always take their direct route
  FlowTimeouts timeouts{};
};

// The largest Rx/Tx burst a worker handles (EngineConfig::burst_size, the agent's burst_size): the
// size of its per-port Tx buffers.
inline constexpr uint16_t kMaxBurstSize = 64;

// The cluster's VXLAN network, for routes to remote nodes in RemoteMode::kVxlan.
struct VxlanConfig {
  uint16_t udp_port = 4789;  // the outer UDP destination port (IANA's VXLAN port)
  uint32_t vni = 1;          // 24 bits: the one VXLAN network of the cluster
};

// ICMP errors the engine sends about packets it drops (time exceeded, fragmentation needed): at
// most `per_second` a second per worker, with bursts of up to `burst`; per_second = 0 sends none.
// 100 a second answers a traceroute or a path MTU probe at once, and bounds what a flood of
// expiring or oversized packets (or one with a forged source) can make the engine send to 100
// small frames a second per worker.
struct IcmpErrorConfig {
  uint32_t per_second = 100;
  uint32_t burst = 50;
};

struct EngineConfig {
  // EAL lcore ids the workers run on; each gets one Tx queue index (its position in this list) on
  // every port, so ports must be configured with worker_lcores.size() Tx queues.
  std::vector<unsigned> worker_lcores;
  // Upper bound on pods the engine can hold at once (sizes the route and next-hop tables).
  uint32_t max_ports = 32;
  uint16_t burst_size = 32;
  // An idle worker backs off, sleeping up to this long between polls; zero means busy-poll.
  std::chrono::microseconds idle_sleep_max{200};
  // The pods' default gateway: every pod port answers ARP for it with gateway_mac, which is also
  // the source MAC of everything the engine sends to pods and to the host port.
  uint32_t gateway_ip = 0;  // host byte order (169.254.1.1)
  rte_ether_addr gateway_mac{};
  // Neighbours on the uplink network: how many the engine tracks at once, how long a MAC learned
  // from ARP is trusted before it goes stale (a stale MAC is still used, and re-confirmed with an
  // ARP request when it is), and the least time between two ARP requests for one neighbour.
  uint32_t max_neighbours = 1024;
  std::chrono::milliseconds neighbour_timeout{60'000};
  std::chrono::milliseconds arp_retry_interval{1'000};
  // Flows the node's kernel forwards through the host port (Services NATed by kube-proxy), whose
  // replies are steered back through the kernel.
  FlowTableConfig flows{};
  VxlanConfig vxlan{};
  IcmpErrorConfig icmp_errors{};
  // Upper bound on routes to other nodes' pod CIDRs (Engine::SetRemoteRoutes); sizes the route and
  // next-hop tables.
  uint32_t max_remote_routes = 1024;
};

// A started ethdev carrying one pod: the engine polls Rx queue 0 and routes ip/32 to it.
struct PodEndpoint {
  uint16_t port_id = 0;
  uint32_t ip = 0;  // host byte order
  rte_ether_addr mac{};
  std::string name;  // "namespace/name", for counters and route listings
};

// The node's kernel behind the host port (the kernel side is an interface in the agent's netns).
struct HostEndpoint {
  uint16_t port_id = 0;
  rte_ether_addr kernel_mac{};  // MAC of the kernel side: the destination MAC of frames sent to it
};

struct Ipv4Route {
  uint32_t prefix = 0;  // host byte order, no bits set beyond `length`
  uint8_t length = 0;   // 1..32
  uint32_t via = 0;     // host byte order: a neighbour on the uplink network
};

// An IPv4 prefix: host byte order, no bits set beyond `length` (1..32).
struct Ipv4Cidr {
  uint32_t prefix = 0;
  uint8_t length = 0;
};

// The DPDK-owned port on the node's network.
struct UplinkEndpoint {
  uint16_t port_id = 0;
  rte_ether_addr mac{};       // the uplink port's own MAC
  uint32_t ip = 0;            // host byte order: the node's address on the uplink network
  uint8_t prefix_length = 0;  // of that network (1..31), which is on-link: ARP for the destination
  uint32_t gateway = 0;       // host byte order, on that network; 0: none
  std::vector<Ipv4Route> routes{};  // prefixes reached via neighbours on the uplink network
  // The node's own pod CIDRs (at most kMaxUplinkPodCidrs): a packet from the uplink with a source
  // in them, or the pods' gateway address, is dropped (uplink_spoofed_source). Only this node's
  // pods use those addresses, and they never send through the uplink.
  std::vector<Ipv4Cidr> pod_cidrs{};
};

inline constexpr size_t kMaxUplinkPodCidrs = 8;

// How packets reach another node's pods (Engine::SetRemoteRoutes).
enum class RemoteMode : uint8_t {
  kHostGw,  // unencapsulated, with the node's address as next hop: it is on the uplink network
  kVxlan,   // in VXLAN to the node's address, reached like any address on the uplink's routes
  kKernel,  // to the host port: the node's kernel routes them (an agent without a DPDK uplink)
};

// One pod CIDR of another node.
struct RemoteRoute {
  uint32_t prefix = 0;   // host byte order, no bits set beyond `length`
  uint8_t length = 0;    // 1..32
  uint32_t node_ip = 0;  // host byte order: the node's address on the data network
  RemoteMode mode = RemoteMode::kHostGw;
  std::string node;  // the node's name, for route listings
};

struct NeighbourInfo {
  std::string ip;       // "192.168.1.20"
  std::string mac;      // "02:00:00:00:00:01"; empty while incomplete
  std::string state;    // "incomplete", "reachable" or "stale"
  uint64_t age_ms = 0;  // since the MAC was last confirmed (incomplete: since the first request)
};

struct PortCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_bytes = 0;
  // Drops by reason, e.g. "spoofed_source", "no_route", "tx_full", "ttl_exceeded", "not_ipv4",
  // "mtu_exceeded", "neighbour_queue_full". Counted on the port the packet came in on, except
  // "tx_full", counted on the port whose Tx ring was full.
  std::map<std::string, uint64_t> drops;
  // What the port saw besides forwarding and drops: "arp_replies" (ARP requests the engine answered
  // on this port), "arp_requests" (ARP requests it sent on this port: the uplink), "to_node"
  // (packets for the node's uplink address that came in on this port and were handed to the host
  // port), "icmp_errors_sent" (ICMP errors sent back on this port about packets dropped here) and
  // "icmp_errors_rate_limited" (those the rate limit held back).
  std::map<std::string, uint64_t> events;
};

struct FlowTableStats {
  uint32_t entries = 0;   // flows tracked now
  uint32_t capacity = 0;  // 0: flows are not tracked
  uint64_t inserts = 0;
  uint64_t hits = 0;  // replies steered to the kernel
  uint64_t expiries = 0;
  uint64_t evictions = 0;        // flows removed to make room while the table was full
  uint64_t insert_failures = 0;  // flows forwarded without an entry: no room
};

// A connection the node's kernel NATs, as its replies travel before the kernel un-NATs them
// (conntrack's reply tuple). Host byte order; for ICMP echo both ports are the identifier.
struct NatedFlow {
  uint8_t protocol = 0;
  uint32_t reply_source = 0;
  uint32_t reply_destination = 0;
  uint16_t reply_source_port = 0;
  uint16_t reply_destination_port = 0;
  bool answered = false;  // the kernel has seen a reply
  // TCP: conntrack saw it close or reset (FIN_WAIT through TIME_WAIT, CLOSE). Seeded as closing:
  // it expires like one, and a direct connection may take its tuple (FlowTable::NoteDirectOpening).
  bool closing = false;
};

// One tracked flow, as the reply direction the engine watches for.
struct FlowListing {
  std::string protocol;           // "tcp", "udp", "icmp", "sctp" or the protocol number
  std::string reply_source;       // "10.244.0.7:8080" (ICMP: the address alone)
  std::string reply_destination;  // "10.244.0.5:41234"
  std::string reply_port;         // "port 3 (default/web-0)"
  std::string state;              // "new", "replied", "established", "closing"
  uint64_t age_ms = 0;            // since last seen in either direction
  uint64_t timeout_ms = 0;        // how long it may stay unseen
};

struct RouteInfo {
  std::string prefix;    // "10.244.0.5/32"
  std::string next_hop;  // "port 3 (default/web-0)"
  std::string node;      // a remote route's node name; empty for the others
  std::string mode;      // a remote route's mode: "host-gw", "vxlan" or "kernel"; empty otherwise
};

class Engine {
 public:
  // Destroy the engine after stopping it and closing the ports it transmitted on (software GSO
  // segments, ARP requests and ICMP errors still in their Tx rings come from the engine's own mbuf
  // pools), and before
  // rte_eal_cleanup.
  virtual ~Engine() = default;

  // Launches the workers on their lcores. Call once, after rte_eal_init.
  virtual absl::Status Start() = 0;
  // Stops and joins the workers. Ports stay attached; the caller closes them afterwards.
  virtual void Stop() = 0;

  // Starts polling the pod's port and routing its /32 to it. Safe to call while workers run.
  // For every attached port, the ethdev's MTU when it is attached bounds the frames sent to it
  // (larger ones are dropped "mtu_exceeded"; GSO packets are cut to it).
  virtual absl::Status AttachPod(const PodEndpoint& pod) = 0;
  // Stops routing to and polling the port. Returns only once no worker can still touch it, so the
  // caller may stop and close the ethdev right after.
  virtual absl::Status DetachPod(uint16_t port_id) = 0;

  // Makes the node's kernel the default route (0.0.0.0/0) for traffic that is not for a local pod,
  // the node's uplink address or the uplink networks, and starts polling its port. Frames from the
  // kernel are routed like any other, without the pods' anti-spoofing checks (the kernel forwards
  // for others), and its ARP requests for any address the engine would forward its packets to
  // (pods, the uplink networks; not back to the host port) are answered with gateway_mac (the
  // kernel routes the pod CIDR on-link). Once, for the engine's life; safe to call while workers
  // run.
  virtual absl::Status AttachHostPort(const HostEndpoint& host) = 0;

  // Starts polling the uplink: answers ARP for the node's address there, routes the uplink network
  // on-link and `routes` via their next hops, resolving neighbours with ARP, and routes frames that
  // arrive for local pods to them; frames for the node's address go to the host port. Frames whose
  // source is in `pod_cidrs` or is the gateway are dropped. The gateway
  // becomes the default route only while no host port is attached. Once, for the engine's life;
  // safe to call while workers run.
  virtual absl::Status AttachUplink(const UplinkEndpoint& uplink) = 0;

  // Makes `routes` the whole set of routes to other nodes' pods: adds, changes and withdraws routes
  // against the last set. A route whose next hop does not change is left alone, and one that
  // changes keeps working until its replacement is in place, so traffic on the other routes never
  // stops. A set that cannot be installed whole is refused with InvalidArgument naming the route,
  // and changes nothing: a prefix that is a local route (the uplink network, the node's address, a
  // static uplink route, a pod), the same prefix twice, host-gw to an address off the uplink
  // network, host-gw or VXLAN without an uplink, kernel without a host port, or more than
  // EngineConfig::max_remote_routes. VXLAN packets that arrive from a node's address are accepted
  // only with an inner source in that node's prefixes. Safe to call while workers run.
  virtual absl::Status SetRemoteRoutes(const std::vector<RemoteRoute>& routes) = 0;

  // Any attached port: a pod's, the host port or the uplink.
  virtual absl::StatusOr<PortCounters> Counters(uint16_t port_id) const = 0;
  virtual std::vector<RouteInfo> Routes() const = 0;
  // The uplink's neighbour table, ordered by address.
  virtual std::vector<NeighbourInfo> Neighbours() const = 0;
  // The flows the node's kernel forwarded whose replies are steered back to it: the table's
  // counters, and up to `limit` flows (0: all of them).
  virtual FlowTableStats FlowStats() const = 0;
  virtual std::vector<FlowListing> Flows(uint32_t limit) const = 0;
  // Hands the flow table connections the kernel NATs already (read from conntrack when the agent
  // starts, its table being empty), so that their replies go back through the kernel before the
  // kernel forwards their next packet. Those whose replies reach the kernel anyway are left out.
  // Call with the host port and the pods attached and the workers running; returns how many were
  // taken.
  virtual absl::StatusOr<size_t> SeedKernelFlows(const std::vector<NatedFlow>& flows) = 0;
};

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineConfig& config);

}  // namespace dpcni::dataplane
