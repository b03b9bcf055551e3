#include "netlink/kernel_routes.h"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "ipam/ipv4.h"
#include "netlink/libnl.h"

namespace dpcni::dataplane {
namespace {

NlAddrPtr Address(uint32_t host_order, uint8_t length) {
  const uint32_t network_order = htonl(host_order);
  NlAddrPtr address(nl_addr_build(AF_INET, &network_order, sizeof(network_order)));
  if (address) nl_addr_set_prefixlen(address.get(), length);
  return address;
}

// An IPv4 nl_addr in host byte order; false for anything else.
bool ReadAddress(nl_addr* address, uint32_t* host_order) {
  if (address == nullptr || nl_addr_get_family(address) != AF_INET ||
      nl_addr_get_len(address) != sizeof(uint32_t)) {
    return false;
  }
  uint32_t network_order = 0;
  std::memcpy(&network_order, nl_addr_get_binary_addr(address), sizeof(network_order));
  *host_order = ntohl(network_order);
  return true;
}

// A route of the main table as we compare them: prefix, length, first gateway, protocol.
struct Seen {
  KernelRoute route;
  uint8_t protocol = 0;
};

class NetlinkRoutes final : public KernelRouteTable {
 public:
  absl::StatusOr<std::vector<KernelRoute>> List() override {
    auto seen = MainTable();
    if (!seen.ok()) return seen.status();
    std::vector<KernelRoute> ours;
    for (const Seen& route : *seen) {
      if (route.protocol == kRouteProtocol) ours.push_back(route.route);
    }
    return ours;
  }

  absl::Status Replace(const KernelRoute& wanted) override {
    auto seen = MainTable();
    if (!seen.ok()) return seen.status();
    for (const Seen& route : *seen) {
      if (route.protocol != kRouteProtocol && route.route.prefix == wanted.prefix &&
          route.route.length == wanted.length) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the node's kernel already routes ",
            Ipv4Prefix{wanted.prefix, wanted.length}.ToString(), " (protocol ", route.protocol,
            ", not dpcni's): remove that route, or the node that claims the prefix"));
      }
    }
    auto sock = Connect();
    if (!sock.ok()) return sock.status();
    RoutePtr route = Template(wanted);
    rtnl_nexthop* next_hop = rtnl_route_nh_alloc();
    if (next_hop == nullptr) return absl::ResourceExhaustedError("cannot allocate a netlink route");
    if (wanted.via != 0) {
      NlAddrPtr via = Address(wanted.via, 32);
      if (!via) {
        rtnl_route_nh_free(next_hop);
        return absl::ResourceExhaustedError("cannot allocate a netlink address");
      }
      // No interface: the kernel finds the one its own routes reach the node's address through.
      rtnl_route_nh_set_gateway(next_hop, via.get());
    } else {
      const unsigned index = ::if_nametoindex(wanted.device.c_str());
      if (index == 0) {
        rtnl_route_nh_free(next_hop);
        return absl::FailedPreconditionError(
            absl::StrCat("add kernel route ", wanted.ToString(), ": no interface ", wanted.device));
      }
      rtnl_route_nh_set_ifindex(next_hop, static_cast<int>(index));
    }
    rtnl_route_add_nexthop(route.get(), next_hop);  // the route owns it from here
    // NLM_F_REPLACE swaps the next hop of the route with the same table, prefix, TOS and metric in
    // place; that can only be ours, checked above.
    if (int error = rtnl_route_add(sock->get(), route.get(), NLM_F_REPLACE); error < 0) {
      return NetlinkError(absl::StrCat("add kernel route ", wanted.ToString(),
                                       " (is the node's address reachable from this node?)"),
                          error);
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const KernelRoute& gone) override {
    auto sock = Connect();
    if (!sock.ok()) return sock.status();
    // The kernel deletes only a route whose protocol matches the one given: never someone else's.
    RoutePtr route = Template(gone);
    if (int error = rtnl_route_delete(sock->get(), route.get(), 0);
        error < 0 && error != -NLE_OBJ_NOTFOUND) {
      return NetlinkError(absl::StrCat("remove kernel route ", gone.ToString()), error);
    }
    return absl::OkStatus();
  }

 private:
  static absl::StatusOr<SocketPtr> Connect() {
    SocketPtr sock(nl_socket_alloc());
    if (!sock) return absl::ResourceExhaustedError("cannot allocate a netlink socket");
    if (int error = nl_connect(sock.get(), NETLINK_ROUTE); error < 0) {
      return NetlinkError("connect rtnetlink", error);
    }
    return sock;
  }

  static RoutePtr Template(const KernelRoute& of) {
    RoutePtr route(rtnl_route_alloc());
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_protocol(route.get(), kRouteProtocol);
    NlAddrPtr dst = Address(of.prefix, of.length);
    rtnl_route_set_dst(route.get(), dst.get());  // takes its own reference
    // Said explicitly, also for a delete: left unset, libnl guesses link scope for a route without
    // a gateway in the request, and the kernel then finds no match for a universe-scope route and
    // answers "not found". On-link routes are link scope, as `ip route add ... dev` makes them.
    rtnl_route_set_scope(route.get(), of.via != 0 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    return route;
  }

  static absl::StatusOr<std::vector<Seen>> MainTable() {
    auto sock = Connect();
    if (!sock.ok()) return sock.status();
    nl_cache* raw = nullptr;
    if (int error = rtnl_route_alloc_cache(sock->get(), AF_INET, 0, &raw); error < 0) {
      return NetlinkError("list kernel routes", error);
    }
    CachePtr cache(raw);
    std::vector<Seen> routes;
    for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr;
         object = nl_cache_get_next(object)) {
      auto* route = reinterpret_cast<rtnl_route*>(object);
      if (rtnl_route_get_table(route) != RT_TABLE_MAIN) continue;
      Seen seen;
      nl_addr* dst = rtnl_route_get_dst(route);
      if (!ReadAddress(dst, &seen.route.prefix)) continue;
      seen.route.length = static_cast<uint8_t>(nl_addr_get_prefixlen(dst));
      seen.protocol = rtnl_route_get_protocol(route);
      if (rtnl_route_get_nnexthops(route) >= 1) {
        rtnl_nexthop* next_hop = rtnl_route_nexthop_n(route, 0);
        if (!ReadAddress(rtnl_route_nh_get_gateway(next_hop), &seen.route.via)) {
          char name[IF_NAMESIZE] = {};
          const int index = rtnl_route_nh_get_ifindex(next_hop);
          if (index > 0 && ::if_indextoname(static_cast<unsigned>(index), name) != nullptr) {
            seen.route.device = name;
          }
        }
      }
      routes.push_back(seen);
    }
    return routes;
  }
};

}  // namespace

std::string KernelRoute::ToString() const {
  if (via == 0) return absl::StrCat(Ipv4Prefix{prefix, length}.ToString(), " dev ", device);
  return absl::StrCat(Ipv4Prefix{prefix, length}.ToString(), " via ", Ipv4ToString(via));
}

std::unique_ptr<KernelRouteTable> NetlinkKernelRoutes() {
  return std::make_unique<NetlinkRoutes>();
}

}  // namespace dpcni::dataplane
