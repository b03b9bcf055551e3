#include "node/pod_cidrs.h"

#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "ipam/ipv4.h"
#include "nlohmann/json.hpp"

namespace dpcni::dataplane {
namespace {

bool Overlap(const Ipv4Prefix& a, const Ipv4Prefix& b) {
  const Ipv4Prefix& shorter = a.length <= b.length ? a : b;
  const Ipv4Prefix& longer = a.length <= b.length ? b : a;
  return shorter.Contains(longer.network);
}

// An IPv6 prefix as Kubernetes writes one ("fd00:10:244:1::/64"): an address, a length up to 128
// and no host bits, else InvalidArgument.
absl::Status CheckIpv6Prefix(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  uint32_t length = 0;
  in6_addr address{};
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &length) || length > 128 ||
      ::inet_pton(AF_INET6, parts[0].c_str(), &address) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 or IPv6 prefix: \"", text, "\""));
  }
  for (uint32_t bit = length; bit < 128; ++bit) {
    if (address.s6_addr[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError(absl::StrCat("prefix \"", text, "\" has host bits set"));
    }
  }
  return absl::OkStatus();
}

// The prefixes in canonical form, so "10.244.1.0/24" written two ways compares equal.
std::set<std::string> CanonicalSet(const std::vector<std::string>& cidrs) {
  std::set<std::string> set;
  for (const std::string& cidr : cidrs) {
    auto prefix = Ipv4Prefix::Parse(cidr);
    set.insert(prefix.ok() ? prefix->ToString() : cidr);
  }
  return set;
}

}  // namespace

absl::Status ValidatePodCidrs(const std::vector<std::string>& cidrs, const std::string& what) {
  if (cidrs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty: the node needs a pod CIDR"));
  }
  std::vector<Ipv4Prefix> prefixes;
  for (const std::string& cidr : cidrs) {
    auto prefix = Ipv4Prefix::Parse(cidr);
    if (!prefix.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", prefix.status().message()));
    }
    for (const Ipv4Prefix& earlier : prefixes) {
      if (Overlap(earlier, *prefix)) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": ", earlier.ToString(), " and ", prefix->ToString(),
                         " overlap (IPAM would hand out their common addresses twice)"));
      }
    }
    prefixes.push_back(*prefix);
  }
  return absl::OkStatus();
}

absl::StatusOr<AcceptedPodCidrs> AcceptPodCidrs(const std::vector<std::string>& requested) {
  if (requested.empty()) {
    return absl::InvalidArgumentError(
        "SetPodCidrs without a pod CIDR: the Node object's spec.podCIDRs is empty (run "
        "kube-controller-manager with --allocate-node-cidrs, or set pod_cidrs in the agent's "
        "config)");
  }
  AcceptedPodCidrs accepted;
  for (const std::string& cidr : requested) {
    if (cidr.find(':') != std::string::npos) {
      if (auto status = CheckIpv6Prefix(cidr); !status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("pod_cidrs: ", status.message()));
      }
      accepted.ignored.push_back(cidr);
      continue;
    }
    auto prefix = Ipv4Prefix::Parse(cidr);
    if (!prefix.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("pod_cidrs: ", prefix.status().message()));
    }
    accepted.ipv4.push_back(prefix->ToString());
  }
  if (accepted.ipv4.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pod_cidrs ", absl::StrJoin(accepted.ignored, ", "),
        " hold no IPv4 prefix: dpcni carries IPv4 pods only, IPv6 is not supported yet (give the "
        "node an IPv4 pod CIDR: an IPv4 or a dual-stack cluster)"));
  }
  if (auto status = ValidatePodCidrs(accepted.ipv4, "pod_cidrs"); !status.ok()) return status;
  return accepted;
}

absl::Status CheckPodCidrsUnchanged(const std::vector<std::string>& current, PodCidrsOrigin origin,
                                    const std::string& record_path,
                                    const std::vector<std::string>& requested) {
  auto accepted = AcceptPodCidrs(requested);
  if (!accepted.ok()) return accepted.status();
  if (CanonicalSet(accepted->ipv4) == CanonicalSet(current)) return absl::OkStatus();
  const std::string have = absl::StrJoin(current, ", ");
  const std::string asked = absl::StrJoin(accepted->ipv4, ", ");
  if (origin == PodCidrsOrigin::kConfig) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node's pod CIDRs are ", have, ", from the agent's config (pod_cidrs), not ", asked,
        ": the agent keeps its pod CIDRs while it runs; to take them from Kubernetes, drain the "
        "node, "
        "remove pod_cidrs from the config and restart the agent"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "this node's pod CIDRs are ", have, ", recorded in ", record_path,
      " by an earlier SetPodCidrs, not ", asked,
      ": the agent keeps its pod CIDRs while it runs; to change them, drain the node, stop the "
      "agent, remove ",
      record_path,
      " (and ipam.json beside it, once no pod holds an address) and "
      "start it again"));
}

PodCidrsRecord::PodCidrsRecord(const std::string& state_dir)
    : path_((std::filesystem::path(state_dir) / "node.json").string()) {}

absl::StatusOr<std::optional<std::vector<std::string>>> PodCidrsRecord::Load() const {
  auto content = ReadFile(path_);
  if (absl::IsNotFound(content.status())) return std::nullopt;
  if (!content.ok()) return content.status();
  const nlohmann::json state = nlohmann::json::parse(*content, nullptr, /*allow_exceptions=*/false);
  const std::string fix = "; remove it to have the agent wait for SetPodCidrs again";
  if (state.is_discarded() || !state.is_object()) {
    return absl::DataLossError(absl::StrCat(path_, " is not valid JSON", fix));
  }
  if (!state.contains("version") || !state["version"].is_number_integer()) {
    return absl::DataLossError(absl::StrCat(path_, " has no version", fix));
  }
  if (const int version = state["version"].get<int>(); version != kVersion) {
    return absl::FailedPreconditionError(absl::StrCat(path_, " is version ", version,
                                                      ", this agent reads version ", kVersion,
                                                      " (written by another dpcni version?)", fix));
  }
  if (!state.contains("pod_cidrs") || !state["pod_cidrs"].is_array()) {
    return absl::DataLossError(absl::StrCat(path_, " has no pod_cidrs list", fix));
  }
  std::vector<std::string> cidrs;
  for (const auto& cidr : state["pod_cidrs"]) {
    if (!cidr.is_string()) {
      return absl::DataLossError(absl::StrCat(path_, ": pod_cidrs holds a non-string", fix));
    }
    cidrs.push_back(cidr.get<std::string>());
  }
  if (auto status = ValidatePodCidrs(cidrs, path_ + " pod_cidrs"); !status.ok()) {
    return absl::DataLossError(absl::StrCat(status.message(), fix));
  }
  return cidrs;
}

absl::Status PodCidrsRecord::Save(const std::vector<std::string>& cidrs) const {
  if (auto status = ValidatePodCidrs(cidrs, "pod_cidrs"); !status.ok()) return status;
  const nlohmann::json state = {{"version", kVersion}, {"pod_cidrs", cidrs}};
  return WriteFileAtomically(path_, state.dump(2));
}

absl::Status PodCidrsRecord::Remove() const {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove ", path_, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace dpcni::dataplane
