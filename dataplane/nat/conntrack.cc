#include "nat/conntrack.h"

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {
namespace {

// libnl's direction argument: 0 the original tuple, 1 the reply tuple.
constexpr int kReply = 1;

struct SocketDeleter {
  void operator()(nl_sock* socket) const { nl_socket_free(socket); }
};
struct CacheDeleter {
  void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};

bool Ipv4Of(const nl_addr* address, uint32_t* out) {
  if (address == nullptr || nl_addr_get_family(address) != AF_INET ||
      nl_addr_get_len(address) != sizeof(uint32_t)) {
    return false;
  }
  uint32_t network_order = 0;
  std::memcpy(&network_order, nl_addr_get_binary_addr(address), sizeof(network_order));
  *out = ntohl(network_order);
  return true;
}

// libnl's direction argument for the original tuple.
constexpr int kOriginal = 0;

// Whether the kernel translates the connection: its reply does not simply mirror the original
// (what conntrack(8) calls --src-nat / --dst-nat). Read from the tuples rather than the status
// bits, which entries made through ctnetlink without the NAT module do not carry.
bool Translated(nfnl_ct* ct, const NatedFlow& reply) {
  uint32_t original_source = 0, original_destination = 0;
  if (!Ipv4Of(nfnl_ct_get_src(ct, kOriginal), &original_source) ||
      !Ipv4Of(nfnl_ct_get_dst(ct, kOriginal), &original_destination)) {
    return false;
  }
  if (original_destination != reply.reply_source || original_source != reply.reply_destination) {
    return true;
  }
  if (reply.protocol == IPPROTO_ICMP) {
    return false;
  }
  return nfnl_ct_get_dst_port(ct, kOriginal) != reply.reply_source_port ||
         nfnl_ct_get_src_port(ct, kOriginal) != reply.reply_destination_port;
}

// The reply tuple of one conntrack entry, if it is a NATed IPv4 connection we follow.
bool ToNatedFlow(nfnl_ct* ct, NatedFlow* out) {
  if (nfnl_ct_get_family(ct) != AF_INET) {
    return false;
  }
  NatedFlow connection{.protocol = nfnl_ct_get_proto(ct),
                       .answered = (nfnl_ct_get_status(ct) & IPS_SEEN_REPLY) != 0};
  if (!Ipv4Of(nfnl_ct_get_src(ct, kReply), &connection.reply_source) ||
      !Ipv4Of(nfnl_ct_get_dst(ct, kReply), &connection.reply_destination)) {
    return false;
  }
  if (connection.protocol == IPPROTO_TCP && nfnl_ct_test_tcp_state(ct)) {
    connection.closing = TcpStateIsClosing(nfnl_ct_get_tcp_state(ct));
  }
  switch (connection.protocol) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
    case IPPROTO_SCTP:
      connection.reply_source_port = nfnl_ct_get_src_port(ct, kReply);
      connection.reply_destination_port = nfnl_ct_get_dst_port(ct, kReply);
      break;
    case IPPROTO_ICMP:
      if (!nfnl_ct_test_icmp_id(ct, kReply)) return false;
      connection.reply_source_port = nfnl_ct_get_icmp_id(ct, kReply);
      connection.reply_destination_port = connection.reply_source_port;
      break;
    default:
      return false;
  }
  if (!Translated(ct, connection)) {
    return false;
  }
  *out = connection;
  return true;
}

}  // namespace

bool TcpStateIsClosing(uint8_t state) {
  switch (state) {
    case TCP_CONNTRACK_FIN_WAIT:
    case TCP_CONNTRACK_CLOSE_WAIT:
    case TCP_CONNTRACK_LAST_ACK:
    case TCP_CONNTRACK_TIME_WAIT:
    case TCP_CONNTRACK_CLOSE:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::vector<NatedFlow>> ReadNatedConnections() {
  std::unique_ptr<nl_sock, SocketDeleter> socket(nl_socket_alloc());
  if (socket == nullptr) return absl::ResourceExhaustedError("conntrack: no netlink socket");
  if (int rc = nl_connect(socket.get(), NETLINK_NETFILTER); rc < 0) {
    return absl::UnavailableError(
        absl::StrCat("conntrack: connecting to netfilter netlink: ", nl_geterror(rc)));
  }
  nl_cache* raw_cache = nullptr;
  if (int rc = nfnl_ct_alloc_cache(socket.get(), &raw_cache); rc < 0) {
    return absl::UnavailableError(
        absl::StrCat("conntrack: dumping the table: ", nl_geterror(rc),
                     " (is the nf_conntrack module loaded and this process CAP_NET_ADMIN?)"));
  }
  std::unique_ptr<nl_cache, CacheDeleter> cache(raw_cache);
  std::vector<NatedFlow> connections;
  for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr;
       object = nl_cache_get_next(object)) {
    NatedFlow connection;
    if (ToNatedFlow(reinterpret_cast<nfnl_ct*>(object), &connection)) {
      connections.push_back(connection);
    }
  }
  return connections;
}

}  // namespace dpcni::dataplane
