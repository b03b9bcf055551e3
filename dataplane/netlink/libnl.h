// What the agent's netlink code shares about libnl-route-3: owners for its objects, each freed with
// the function libnl gives its type, and its errors as statuses.
#pragma once

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {

template <typename T, void (*Free)(T*)>
struct NlDeleter {
  void operator()(T* object) const { Free(object); }
};
using SocketPtr = std::unique_ptr<nl_sock, NlDeleter<nl_sock, nl_socket_free>>;
using LinkPtr = std::unique_ptr<rtnl_link, NlDeleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, NlDeleter<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, NlDeleter<rtnl_route, rtnl_route_put>>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlDeleter<nl_addr, nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, NlDeleter<nl_cache, nl_cache_free>>;

// `error` is libnl's (a negative NLE_* code): "WHAT: <libnl's message>".
inline absl::Status NetlinkError(const std::string& what, int error) {
  return absl::InternalError(absl::StrCat(what, ": ", nl_geterror(error)));
}

}  // namespace dpcni::dataplane
