#include "nat/masquerade.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "ipam/ipv4.h"
#include "nat/nftables.h"
#include "netns/netns.h"

namespace dpcni::dataplane {
namespace {

// "{ 10.244.0.0/24, 10.245.0.0/24 }". Each CIDR is parsed and printed back, so nothing but
// well-formed prefixes ever reaches the nft command text.
absl::StatusOr<std::string> PrefixSet(const std::vector<std::string>& cidrs, const char* what) {
  if (cidrs.empty()) return absl::InvalidArgumentError(absl::StrCat("masquerade: no ", what));
  std::vector<std::string> prefixes;
  for (const std::string& cidr : cidrs) {
    auto prefix = Ipv4Prefix::Parse(cidr);
    if (!prefix.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("masquerade: ", what, ": ", prefix.status().message()));
    }
    prefixes.push_back(prefix->ToString());
  }
  return absl::StrCat("{ ", absl::StrJoin(prefixes, ", "), " }");
}

std::string TableName() { return absl::StrCat("ip ", kMasqueradeTable); }

}  // namespace

absl::StatusOr<std::unique_ptr<Masquerade>> Masquerade::Install(
    const std::vector<std::string>& pod_cidrs, const std::vector<std::string>& cluster_cidrs) {
  auto sources = PrefixSet(pod_cidrs, "pod CIDRs");
  if (!sources.ok()) return sources.status();
  auto cluster = PrefixSet(cluster_cidrs.empty() ? pod_cidrs : cluster_cidrs, "cluster CIDRs");
  if (!cluster.ok()) return cluster.status();

  const int netns_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (netns_fd < 0) {
    return absl::InternalError(
        absl::StrCat("masquerade: cannot open this thread's netns: ", std::strerror(errno)));
  }

  // `add` is a no-op on a table an earlier agent left and makes the `delete` after it safe when
  // there is none; the whole text is one nft transaction, so the node never has two rules or none.
  const std::string table = TableName();
  const std::vector<std::string> commands = {
      absl::StrCat("add table ", table),
      absl::StrCat("delete table ", table),
      absl::StrCat("add table ", table),
      absl::StrCat("add chain ", table, " ", kMasqueradeChain,
                   " { type nat hook postrouting priority srcnat; policy accept; }"),
      absl::StrCat("add rule ", table, " ", kMasqueradeChain, " ip saddr ", *sources,
                   " ip daddr != ", *cluster, " masquerade"),
  };
  if (auto applied = Nftables().Run(absl::StrJoin(commands, "\n")); !applied.ok()) {
    ::close(netns_fd);
    return absl::Status(applied.status().code(), absl::StrCat("install masquerade table ", table,
                                                              ": ", applied.status().message()));
  }
  return std::unique_ptr<Masquerade>(new Masquerade(netns_fd));
}

Masquerade::~Masquerade() {
  const std::string table = TableName();
  absl::Status deleted =
      RunInNetns(absl::StrCat("/proc/self/fd/", netns_fd_), [&]() -> absl::Status {
        return Nftables().Run(absl::StrCat("delete table ", table)).status();
      });
  if (!deleted.ok()) {
    DPCNI_LOG(kWarning, "nat", "delete masquerade table ", table, ": ", deleted.ToString());
  }
  ::close(netns_fd_);
}

}  // namespace dpcni::dataplane
