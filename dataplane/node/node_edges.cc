#include "node/node_edges.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "ipam/ipv4.h"

namespace dpcni::dataplane {

absl::StatusOr<UplinkEndpoint> MakeUplinkEndpoint(const UplinkConfig& config,
                                                  const UplinkPort& port,
                                                  const std::vector<std::string>& pod_cidrs) {
  auto address = Ipv4InterfaceAddress::Parse(config.address);
  if (!address.ok()) return address.status();
  UplinkEndpoint uplink;
  uplink.port_id = port.port_id;
  uplink.mac = port.mac;
  uplink.ip = address->address;
  uplink.prefix_length = address->length;
  if (!config.gateway.empty()) {
    auto gateway = ParseIpv4(config.gateway);
    if (!gateway.ok()) return gateway.status();
    uplink.gateway = *gateway;
  }
  for (const StaticRoute& route : config.routes) {
    auto dst = Ipv4Prefix::Parse(route.dst);
    if (!dst.ok()) return dst.status();
    auto via = ParseIpv4(route.via);
    if (!via.ok()) return via.status();
    uplink.routes.push_back({dst->network, dst->length, *via});
  }
  for (const std::string& text : pod_cidrs) {
    auto cidr = Ipv4Prefix::Parse(text);
    if (!cidr.ok()) return cidr.status();
    uplink.pod_cidrs.push_back({cidr->network, cidr->length});
  }
  return uplink;
}

absl::StatusOr<std::unique_ptr<NodeEdges>> NodeEdges::SetUp(const AgentConfig& config,
                                                            KernelPorts& ports,
                                                            const PortQueues& queues,
                                                            Engine& engine) {
  // Ordered so that nothing can fail once the uplink is attached: a failed start must not destroy a
  // port the engine's workers poll.
  std::unique_ptr<NodeEdges> edges(new NodeEdges());
  if (config.masquerade) {
    auto masquerade = Masquerade::Install(config.pod_cidrs, config.cluster_cidrs);
    if (!masquerade.ok()) return masquerade.status();
    edges->masquerade_ = *std::move(masquerade);
  }
  auto host = SetUpHostPort(config, ports);
  if (!host.ok()) return host.status();
  edges->host_ = *host;
  if (auto status = engine.AttachHostPort({host->port.port_id, host->kernel_mac}); !status.ok()) {
    return status;
  }

  if (config.uplink.type != UplinkType::kNone) {
    auto uplink = CreateUplinkPort(config.uplink, queues);
    if (!uplink.ok()) return uplink.status();
    edges->uplink_ = *uplink;
    if (!uplink->receive_merging_turned_off.empty()) {
      DPCNI_LOG(kInfo, "node", "turned ",
                absl::StrJoin(uplink->receive_merging_turned_off, " and "), " off on ",
                uplink->link_name,
                ": af_packet reads frames after the kernel merged them, and a merged frame does "
                "not fit its ring slots");
    }
    // Pods' packets that do not fit the uplink are dropped (mtu_exceeded) with no ICMP back yet:
    // say so at start rather than let TCP stall on the first full-sized segment.
    const uint32_t tunnel_mtu = uplink->mtu > 50 ? uplink->mtu - 50 : 0;
    DPCNI_LOG(kInfo, "node", "uplink ", uplink->link_name, " (", uplink->driver, ") MTU ",
              uplink->mtu, " (VXLAN carries ", tunnel_mtu,
              "); Tx offloads: ", DescribeTxOffloads(uplink->tx_offloads));
    // (mode auto uses VXLAN only for nodes off the uplink's network, which the agent cannot know
    // yet: the line above says what VXLAN carries.)
    if (config.pod_mtu > uplink->mtu ||
        (config.remote_nodes.mode == RemoteNodesMode::kVxlan && config.pod_mtu > tunnel_mtu)) {
      DPCNI_LOG(kWarning, "node", "pod_mtu ", config.pod_mtu,
                " exceeds what the uplink carries to other nodes",
                config.pod_mtu > uplink->mtu ? "" : " in VXLAN", ": set pod_mtu to ",
                config.remote_nodes.mode == RemoteNodesMode::kHostGw ? uplink->mtu : tunnel_mtu);
    }
    auto endpoint = MakeUplinkEndpoint(config.uplink, *uplink, config.pod_cidrs);
    if (!endpoint.ok()) return endpoint.status();
    if (auto status = engine.AttachUplink(*endpoint); !status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("uplink ", uplink->link_name, ": ", status.message()));
    }
  }
  return edges;
}

NodeEdges::~NodeEdges() {
  if (uplink_) DestroyUplinkPort(*uplink_).IgnoreError();
}

}  // namespace dpcni::dataplane
