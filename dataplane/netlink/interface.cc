#include "netlink/interface.h"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "netlink/libnl.h"

namespace dpcni::dataplane {
namespace {

absl::StatusOr<SocketPtr> Connect() {
  SocketPtr sock(nl_socket_alloc());
  if (!sock) return absl::ResourceExhaustedError("cannot allocate a netlink socket");
  if (int error = nl_connect(sock.get(), NETLINK_ROUTE); error < 0) {
    return NetlinkError("connect rtnetlink", error);
  }
  return sock;
}

absl::StatusOr<LinkPtr> GetLink(nl_sock* sock, const std::string& ifname) {
  rtnl_link* link = nullptr;
  if (int error = rtnl_link_get_kernel(sock, 0, ifname.c_str(), &link); error < 0) {
    if (error == -NLE_OBJ_NOTFOUND || error == -NLE_NODEV) {
      return absl::NotFoundError(absl::StrCat("no interface ", ifname));
    }
    return NetlinkError(absl::StrCat("look up interface ", ifname), error);
  }
  return LinkPtr(link);
}

absl::StatusOr<NlAddrPtr> ParseAddress(const std::string& text) {
  nl_addr* address = nullptr;
  if (int error = nl_addr_parse(text.c_str(), AF_INET, &address); error < 0) {
    return NetlinkError(absl::StrCat("parse address ", text), error);
  }
  return NlAddrPtr(address);
}

// A retried ADD finds its own earlier work in place; that is success, not a conflict.
bool OkOrExists(int error) { return error >= 0 || error == -NLE_EXIST; }

absl::Status SetMtuAndUp(nl_sock* sock, rtnl_link* link, uint32_t mtu, const std::string& ifname) {
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_mtu(change.get(), mtu);
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int error = rtnl_link_change(sock, link, change.get(), 0); error < 0) {
    return NetlinkError(absl::StrCat("set mtu ", mtu, " and up on ", ifname), error);
  }
  return absl::OkStatus();
}

absl::Status AddAddress(nl_sock* sock, int ifindex, const std::string& cidr,
                        const std::string& ifname) {
  auto local = ParseAddress(cidr);
  if (!local.ok()) return local.status();
  AddrPtr address(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(address.get(), ifindex);
  rtnl_addr_set_local(address.get(), local->get());
  if (int error = rtnl_addr_add(sock, address.get(), 0); !OkOrExists(error)) {
    return NetlinkError(absl::StrCat("add address ", cidr, " to ", ifname), error);
  }
  return absl::OkStatus();
}

// dst is "a.b.c.d/len"; an empty gateway makes the route on-link (scope link).
absl::Status AddRoute(nl_sock* sock, int ifindex, const RouteSpec& spec,
                      const std::string& ifname) {
  const std::string& dst = spec.dst;
  const std::string& gateway = spec.via;
  auto destination = ParseAddress(dst);
  if (!destination.ok()) return destination.status();
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_dst(route.get(), destination->get());
  rtnl_route_set_scope(route.get(), gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
  rtnl_nexthop* next_hop = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(next_hop, ifindex);
  if (!gateway.empty()) {
    auto via = ParseAddress(gateway);
    if (!via.ok()) {
      rtnl_route_nh_free(next_hop);
      return via.status();
    }
    rtnl_route_nh_set_gateway(next_hop, via->get());
  }
  rtnl_route_add_nexthop(route.get(), next_hop);  // the route owns it from here
  // An identical route (same device, gateway and scope) is EEXIST with or without NLM_F_APPEND.
  const int flags = spec.behind_existing ? NLM_F_APPEND : 0;
  if (int error = rtnl_route_add(sock, route.get(), flags); !OkOrExists(error)) {
    return NetlinkError(
        absl::StrCat("add route ", dst, gateway.empty() ? "" : " via " + gateway, " on ", ifname),
        error);
  }
  return absl::OkStatus();
}

std::string FormatIpv4(nl_addr* address, unsigned prefix_length) {
  const auto* bytes = static_cast<const uint8_t*>(nl_addr_get_binary_addr(address));
  return absl::StrFormat("%d.%d.%d.%d/%d", bytes[0], bytes[1], bytes[2], bytes[3], prefix_length);
}

absl::StatusOr<CachePtr> MainRoutes(nl_sock* sock) {
  nl_cache* raw_cache = nullptr;
  if (int error = rtnl_route_alloc_cache(sock, AF_INET, 0, &raw_cache); error < 0) {
    return NetlinkError("list routes", error);
  }
  return CachePtr(raw_cache);
}

// The prefixes of the main table's single-next-hop routes through `gateway` on `ifindex`.
absl::StatusOr<std::vector<std::string>> RoutesVia(nl_sock* sock, int ifindex,
                                                   const std::string& gateway) {
  std::vector<std::string> prefixes;
  if (gateway.empty()) return prefixes;
  auto via = ParseAddress(gateway);
  if (!via.ok()) return via.status();
  auto cache = MainRoutes(sock);
  if (!cache.ok()) return cache.status();
  for (nl_object* object = nl_cache_get_first(cache->get()); object;
       object = nl_cache_get_next(object)) {
    auto* route = reinterpret_cast<rtnl_route*>(object);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN || rtnl_route_get_nnexthops(route) != 1)
      continue;
    rtnl_nexthop* next_hop = rtnl_route_nexthop_n(route, 0);
    nl_addr* route_gateway = rtnl_route_nh_get_gateway(next_hop);
    if (rtnl_route_nh_get_ifindex(next_hop) != ifindex || !route_gateway ||
        nl_addr_cmp_prefix(route_gateway, via->get()) != 0) {
      continue;
    }
    // The default route's dst is absent or 0.0.0.0/0, depending on how it was added.
    nl_addr* dst = rtnl_route_get_dst(route);
    prefixes.push_back(dst && nl_addr_get_prefixlen(dst) != 0
                           ? FormatIpv4(dst, nl_addr_get_prefixlen(dst))
                           : std::string("0.0.0.0/0"));
  }
  return prefixes;
}

}  // namespace

InterfaceSpec PodInterface(const std::string& ifname, uint32_t mtu,
                           const std::vector<std::string>& addresses, const std::string& gateway,
                           const std::vector<std::string>& routes_via_gateway) {
  InterfaceSpec spec{ifname, mtu, addresses, {{gateway + "/32", "", /*behind_existing=*/true}}};
  for (const std::string& dst : routes_via_gateway) spec.routes.push_back({dst, gateway});
  return spec;
}

absl::Status ConfigureInterface(const InterfaceSpec& spec) {
  auto sock = Connect();
  if (!sock.ok()) return sock.status();
  auto link = GetLink(sock->get(), spec.ifname);
  if (!link.ok()) return link.status();
  const int ifindex = rtnl_link_get_ifindex(link->get());

  if (auto status = SetMtuAndUp(sock->get(), link->get(), spec.mtu, spec.ifname); !status.ok()) {
    return status;
  }
  for (const std::string& cidr : spec.addresses) {
    if (auto status = AddAddress(sock->get(), ifindex, cidr, spec.ifname); !status.ok())
      return status;
  }
  for (const RouteSpec& route : spec.routes) {
    if (auto status = AddRoute(sock->get(), ifindex, route, spec.ifname); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<InterfaceState> ReadInterface(const std::string& ifname,
                                             const std::string& gateway) {
  auto sock = Connect();
  if (!sock.ok()) return sock.status();
  auto link = GetLink(sock->get(), ifname);
  if (!link.ok()) return link.status();

  InterfaceState state;
  const int ifindex = rtnl_link_get_ifindex(link->get());
  state.up = (rtnl_link_get_flags(link->get()) & IFF_UP) != 0;
  state.mtu = rtnl_link_get_mtu(link->get());
  if (nl_addr* mac = rtnl_link_get_addr(link->get())) {
    char text[64];
    state.mac = nl_addr2str(mac, text, sizeof(text));
  }
  nl_cache* raw_cache = nullptr;
  if (int error = rtnl_addr_alloc_cache(sock->get(), &raw_cache); error < 0) {
    return NetlinkError(absl::StrCat("list addresses of ", ifname), error);
  }
  CachePtr addresses(raw_cache);
  for (nl_object* object = nl_cache_get_first(addresses.get()); object;
       object = nl_cache_get_next(object)) {
    auto* address = reinterpret_cast<rtnl_addr*>(object);
    if (rtnl_addr_get_ifindex(address) != ifindex || rtnl_addr_get_family(address) != AF_INET)
      continue;
    state.addresses.push_back(
        FormatIpv4(rtnl_addr_get_local(address), rtnl_addr_get_prefixlen(address)));
  }
  auto routes = RoutesVia(sock->get(), ifindex, gateway);
  if (!routes.ok()) return routes.status();
  state.routes_via_gateway = *std::move(routes);
  return state;
}

absl::StatusOr<bool> HasDefaultRoute() {
  auto sock = Connect();
  if (!sock.ok()) return sock.status();
  auto cache = MainRoutes(sock->get());
  if (!cache.ok()) return cache.status();
  for (nl_object* object = nl_cache_get_first(cache->get()); object;
       object = nl_cache_get_next(object)) {
    auto* route = reinterpret_cast<rtnl_route*>(object);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN) continue;
    nl_addr* dst = rtnl_route_get_dst(route);
    if (!dst || nl_addr_get_prefixlen(dst) == 0) return true;
  }
  return false;
}

absl::Status DeleteInterface(const std::string& ifname) {
  auto sock = Connect();
  if (!sock.ok()) return sock.status();
  auto link = GetLink(sock->get(), ifname);
  if (absl::IsNotFound(link.status())) return absl::OkStatus();
  if (!link.ok()) return link.status();
  if (int error = rtnl_link_delete(sock->get(), link->get());
      error < 0 && error != -NLE_OBJ_NOTFOUND) {
    return NetlinkError(absl::StrCat("delete interface ", ifname), error);
  }
  return absl::OkStatus();
}

}  // namespace dpcni::dataplane
