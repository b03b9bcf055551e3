// A known agent state for dpcnictl's tests.
#pragma once

#include "tests/cni/testing/fake_agent.h"

namespace dpcni::dpcnictl {

inline testing::FakeAgentReplies KnownAgentState() {
  testing::FakeAgentReplies replies;
  replies.status.set_ready(true);
  replies.status.set_message("serving");
  replies.status.set_pods(2);
  replies.status.set_addresses_in_use(2);
  replies.status.set_pod_capacity(30);
  replies.status.set_mbuf_pool_size(25493);
  replies.status.set_mbufs_in_use(503);
  replies.status.set_default_backend("tap");
  replies.status.add_pod_cidrs("10.244.1.0/24");
  replies.status.add_pod_cidrs("fd00:10:244:1::/64");
  v1::PortLink* host = replies.status.add_links();
  host->set_role("host");
  host->set_name("dpcni0");
  host->set_port_id(1);
  host->set_up(true);
  v1::PortLink* uplink_link = replies.status.add_links();
  uplink_link->set_role("uplink");
  uplink_link->set_name("0000:03:00.0");
  uplink_link->set_port_id(0);
  uplink_link->set_up(false);
  uplink_link->set_speed_mbps(25000);
  uplink_link->set_driver("net_ice");
  replies.status.mutable_route_sync()->set_state("stale");
  replies.status.mutable_route_sync()->set_message("watch nodes: connection refused");
  replies.status.mutable_route_sync()->set_age_ms(90'500);
  replies.status.mutable_route_sync()->set_nodes(2);
  replies.status.mutable_route_sync()->set_prefixes(3);

  // Listed out of order: dpcnictl sorts by pod.
  v1::PodInfo* web = replies.list_pods.add_pods();
  web->mutable_pod()->set_namespace_("shop");
  web->mutable_pod()->set_name("web-0");
  web->mutable_attachment()->set_container_id(
      "9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a9d8c");
  web->mutable_attachment()->set_ifname("eth0");
  web->mutable_interface()->set_mac("02:00:0a:f4:01:07");
  web->add_ips()->set_cidr("10.244.1.7/24");
  web->add_ips()->set_cidr("fd00:10:244:1::7/64");
  web->set_backend("tap");
  web->set_port_id(3);
  v1::PodInfo* dns = replies.list_pods.add_pods();
  dns->mutable_pod()->set_namespace_("kube-system");
  dns->mutable_pod()->set_name("coredns-5d78c9869d-xk2lp");
  dns->mutable_attachment()->set_container_id("1a2b3c4d");
  dns->mutable_attachment()->set_ifname("eth0");
  dns->mutable_interface()->set_mac("02:00:0a:f4:01:02");
  dns->add_ips()->set_cidr("10.244.1.2/24");
  dns->set_backend("vhost-net");
  dns->set_port_id(12);

  v1::PortStats* uplink = replies.port_stats.add_ports();
  uplink->set_port_id(0);
  uplink->set_name("uplink");
  uplink->set_backend("af_packet");
  uplink->set_rx_packets(1234567);
  uplink->set_rx_bytes(987654321);
  uplink->set_tx_packets(7654321);
  uplink->set_tx_bytes(123456789);
  (*uplink->mutable_drops())["ttl_expired"] = 2;
  (*uplink->mutable_drops())["no_route"] = 17;
  (*uplink->mutable_events())["to_node"] = 9;
  (*uplink->mutable_events())["arp_replies"] = 4;
  v1::PortStats* web_port = replies.port_stats.add_ports();
  web_port->set_port_id(3);
  web_port->set_name("shop/web-0");
  web_port->set_backend("tap");
  web_port->set_rx_packets(42);
  web_port->set_rx_bytes(4200);
  web_port->set_tx_packets(40);
  web_port->set_tx_bytes(3900);

  v1::RouteEntry* route = replies.list_routes.add_routes();
  route->set_prefix("10.244.1.7/32");
  route->set_next_hop("port 3 (shop/web-0)");
  route = replies.list_routes.add_routes();
  route->set_prefix("10.244.2.0/24");
  route->set_next_hop("192.168.1.12 on port 0 (uplink)");
  route->set_node("node-2");
  route->set_mode("host-gw");
  route = replies.list_routes.add_routes();
  route->set_prefix("10.244.3.0/24");
  route->set_next_hop("vxlan to 10.0.3.13 on port 0 (uplink)");
  route->set_node("node-3");
  route->set_mode("vxlan");
  route = replies.list_routes.add_routes();
  route->set_prefix("0.0.0.0/0");
  route->set_next_hop("port 0 (uplink)");

  // The agent lists neighbours by address.
  v1::Neighbour* gateway = replies.list_neighbours.add_neighbours();
  gateway->set_ip("192.168.1.1");
  gateway->set_mac("02:00:c0:a8:01:01");
  gateway->set_state("reachable");
  gateway->set_age_ms(1200);
  v1::Neighbour* peer = replies.list_neighbours.add_neighbours();
  peer->set_ip("192.168.1.20");
  peer->set_state("incomplete");
  peer->set_age_ms(40);
  v1::Neighbour* router = replies.list_neighbours.add_neighbours();
  router->set_ip("192.168.1.254");
  router->set_mac("02:00:c0:a8:01:fe");
  router->set_state("stale");
  router->set_age_ms(192500);

  v1::FlowTableStats* flow_stats = replies.list_flows.mutable_stats();
  flow_stats->set_entries(2);
  flow_stats->set_capacity(65536);
  flow_stats->set_inserts(31);
  flow_stats->set_hits(1207);
  flow_stats->set_expiries(29);
  // Listed out of order: dpcnictl sorts by the port the replies come in on.
  v1::Flow* dns_flow = replies.list_flows.add_flows();
  dns_flow->set_protocol("udp");
  dns_flow->set_reply_source("10.244.1.2:53");
  dns_flow->set_reply_destination("10.244.1.7:53311");
  dns_flow->set_reply_port("port 12 (kube-system/coredns-5d78c9869d-xk2lp)");
  dns_flow->set_state("replied");
  dns_flow->set_age_ms(300);
  dns_flow->set_timeout_ms(180000);
  v1::Flow* web_flow = replies.list_flows.add_flows();
  web_flow->set_protocol("tcp");
  web_flow->set_reply_source("10.244.1.7:8080");
  web_flow->set_reply_destination("192.168.1.20:41234");
  web_flow->set_reply_port("port 3 (shop/web-0)");
  web_flow->set_state("established");
  web_flow->set_age_ms(1200);
  web_flow->set_timeout_ms(86400000);
  return replies;
}

}  // namespace dpcni::dpcnictl
