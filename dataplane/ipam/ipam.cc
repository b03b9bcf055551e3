#include "ipam/ipam.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/atomic_file.h"
#include "nlohmann/json.hpp"

namespace dpcni::dataplane {
namespace {

// ipam.json's layout. Version 0 is the same layout without the field (agents before 2026-11-30);
// it is read as is and written back as 1.
constexpr int kIpamStateVersion = 1;

}  // namespace

Ipv4Pool::Ipv4Pool(Ipv4Prefix prefix, std::vector<uint32_t> reserved)
    : prefix_(prefix), reserved_(std::move(reserved)), cursor_(prefix.network) {}

bool Ipv4Pool::Usable(uint32_t address) const {
  if (!prefix_.Contains(address)) return false;
  // /31 and /32 pools have no network or broadcast address (RFC 3021).
  if (prefix_.length < 31) {
    const uint32_t broadcast = prefix_.network | ~prefix_.Mask();
    if (address == prefix_.network || address == broadcast) return false;
  }
  return std::find(reserved_.begin(), reserved_.end(), address) == reserved_.end();
}

absl::StatusOr<uint32_t> Ipv4Pool::AllocateNext(const std::string& owner) {
  const uint64_t size = prefix_.Size();
  for (uint64_t step = 1; step <= size; ++step) {
    const uint32_t candidate =
        prefix_.network + static_cast<uint32_t>((cursor_ - prefix_.network + step) % size);
    if (Usable(candidate) && !allocations_.contains(candidate)) {
      allocations_[candidate] = owner;
      cursor_ = candidate;
      return candidate;
    }
  }
  return absl::ResourceExhaustedError(absl::StrCat("pod CIDR ", prefix_.ToString(),
                                                   " has no free address left (",
                                                   allocations_.size(), " in use)"));
}

absl::Status Ipv4Pool::AllocateExactly(uint32_t address, const std::string& owner) {
  if (!Usable(address)) {
    return absl::InvalidArgumentError(absl::StrCat("requested address ", Ipv4ToString(address),
                                                   " is not usable in pod CIDR ",
                                                   prefix_.ToString()));
  }
  auto it = allocations_.find(address);
  if (it != allocations_.end() && it->second != owner) {
    return absl::AlreadyExistsError(absl::StrCat("requested address ", Ipv4ToString(address),
                                                 " is already held by ", it->second));
  }
  allocations_[address] = owner;
  return absl::OkStatus();
}

void Ipv4Pool::ReleaseOwner(const std::string& owner) {
  std::erase_if(allocations_, [&owner](const auto& entry) { return entry.second == owner; });
}

void Ipv4Pool::Restore(std::map<uint32_t, std::string> allocations, uint32_t cursor) {
  allocations_ = std::move(allocations);
  cursor_ = prefix_.Contains(cursor) ? cursor : prefix_.network;
}

Ipam::Ipam(std::vector<Ipv4Pool> pools, std::string state_file)
    : pools_(std::move(pools)), state_file_(std::move(state_file)) {}

absl::StatusOr<std::unique_ptr<Ipam>> Ipam::Open(const std::vector<std::string>& cidrs,
                                                 const std::vector<std::string>& reserved,
                                                 const std::string& state_file) {
  if (cidrs.empty()) return absl::InvalidArgumentError("IPAM needs at least one pod CIDR");
  std::vector<uint32_t> reserved_addresses;
  for (const std::string& text : reserved) {
    auto address = ParseIpv4(text);
    if (!address.ok()) return address.status();
    reserved_addresses.push_back(*address);
  }
  std::vector<Ipv4Pool> pools;
  for (const std::string& cidr : cidrs) {
    auto prefix = Ipv4Prefix::Parse(cidr);
    if (!prefix.ok()) return prefix.status();
    pools.emplace_back(*prefix, reserved_addresses);
  }
  std::unique_ptr<Ipam> ipam(new Ipam(std::move(pools), state_file));
  if (auto status = ipam->Load(); !status.ok()) return status;
  return ipam;
}

absl::Status Ipam::Load() {
  auto content = ReadFile(state_file_);
  if (absl::IsNotFound(content.status())) return absl::OkStatus();
  if (!content.ok()) return content.status();
  const nlohmann::json state = nlohmann::json::parse(*content, nullptr, /*allow_exceptions=*/false);
  if (state.is_discarded() || !state.is_object() || !state.contains("pools") ||
      !state["pools"].is_array()) {
    return absl::DataLossError(
        absl::StrCat("IPAM state ", state_file_, " is not valid JSON with a \"pools\" list"));
  }
  const nlohmann::json& version = state.contains("version") ? state["version"] : nlohmann::json(0);
  if (!version.is_number_integer() || version.get<int>() < 0 ||
      version.get<int>() > kIpamStateVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("IPAM state ", state_file_, " is version ", version.dump(),
                     ", written by a newer dpcni; this agent reads up to version ",
                     kIpamStateVersion, ": run the newer agent, or repair the file"));
  }
  // nlohmann's value()/get() throw type_error on a field of the wrong type: a corrupted file must
  // give a start error naming it, not end the agent with an uncaught exception.
  // Every allocation the file lists is kept or the file refused: one dropped would be an address
  // handed out twice.
  const auto refused = [this](absl::string_view cidr, absl::string_view problem) {
    return absl::DataLossError(absl::StrCat("IPAM state ", state_file_, ": pool ", cidr, " ",
                                            problem,
                                            "; repair it (every pod's address is also in "
                                            "pods.json beside it)"));
  };
  auto load_pools = [this, &refused](const nlohmann::json& saved_pools) -> absl::Status {
    std::set<std::string> loaded_cidrs;
    for (const auto& saved : saved_pools) {
      const std::string cidr = saved.value("cidr", "");
      auto pool = std::find_if(pools_.begin(), pools_.end(), [&cidr](const Ipv4Pool& p) {
        return p.prefix().ToString() == cidr;
      });
      if (pool == pools_.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("IPAM state ", state_file_, " holds allocations from pod CIDR ", cidr,
                         " which is no longer configured; remove the file only if no pod uses "
                         "those addresses"));
      }
      if (!loaded_cidrs.insert(cidr).second) {
        return refused(cidr, "is listed twice");
      }
      std::map<uint32_t, std::string> allocations;
      const auto no_allocations = nlohmann::json::object();
      const auto& saved_allocations =
          saved.contains("allocations") ? saved["allocations"] : no_allocations;
      for (const auto& [address, owner] : saved_allocations.items()) {
        auto parsed = ParseIpv4(address);
        if (!parsed.ok()) return refused(cidr, parsed.status().message());
        if (!pool->prefix().Contains(*parsed)) {
          return refused(cidr, absl::StrCat("holds ", address, ", an address outside it"));
        }
        allocations[*parsed] = owner.get<std::string>();
      }
      auto cursor = ParseIpv4(saved.value("cursor", cidr.substr(0, cidr.find('/'))));
      pool->Restore(std::move(allocations), cursor.ok() ? *cursor : pool->prefix().network);
    }
    return absl::OkStatus();
  };
  try {
    return load_pools(state["pools"]);
  } catch (const nlohmann::json::exception& wrong_type) {
    return absl::DataLossError(
        absl::StrCat("IPAM state ", state_file_, ": ", wrong_type.what(),
                     "; repair it (every pod's address is also in pods.json beside it)"));
  }
}

absl::Status Ipam::Persist() const {
  nlohmann::json state;
  state["version"] = kIpamStateVersion;
  state["pools"] = nlohmann::json::array();
  for (const Ipv4Pool& pool : pools_) {
    nlohmann::json allocations = nlohmann::json::object();
    for (const auto& [address, owner] : pool.allocations())
      allocations[Ipv4ToString(address)] = owner;
    state["pools"].push_back({{"cidr", pool.prefix().ToString()},
                              {"cursor", Ipv4ToString(pool.cursor())},
                              {"allocations", allocations}});
  }
  return WriteFileAtomically(state_file_, state.dump(2));
}

absl::StatusOr<std::vector<Allocation>> Ipam::Allocate(const std::string& owner,
                                                       const std::vector<std::string>& requested) {
  if (requested.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a pod gets one IPv4 address, ", requested.size(), " are requested (",
                     absl::StrJoin(requested, ", "), "): ask for one in runtimeConfig.ips"));
  }
  std::optional<uint32_t> wanted;
  if (!requested.empty()) {
    const std::string& text = requested.front();
    auto address = ParseIpv4(absl::string_view(text).substr(0, text.find('/')));
    if (!address.ok()) return address.status();
    wanted = *address;
  }
  std::lock_guard lock(mu_);
  if (auto held = AllocationsOfLocked(owner); !held.empty()) return held;

  const std::vector<Ipv4Pool> before = pools_;
  auto rollback = [&](absl::Status status) {
    pools_ = before;
    return status;
  };
  if (wanted) {
    auto pool = std::find_if(pools_.begin(), pools_.end(),
                             [&](const Ipv4Pool& p) { return p.prefix().Contains(*wanted); });
    if (pool == pools_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("requested address ", Ipv4ToString(*wanted),
                                                     " is in no pod CIDR of this node (",
                                                     absl::StrJoin(Cidrs(), ", "), ")"));
    }
    if (auto status = pool->AllocateExactly(*wanted, owner); !status.ok()) return status;
  } else {
    // The pools are one set: the first in the configured order with a free address gives it, so a
    // node whose first CIDR is full goes on with the next. A full pool changes nothing.
    std::vector<std::string> full;
    absl::Status exhausted;
    for (Ipv4Pool& pool : pools_) {
      auto address = pool.AllocateNext(owner);
      if (address.ok()) break;
      exhausted = address.status();
      full.push_back(
          absl::StrCat(pool.prefix().ToString(), " (", pool.allocations().size(), " in use)"));
    }
    if (full.size() == 1 && pools_.size() == 1) return exhausted;
    if (full.size() == pools_.size()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "every pod CIDR of this node is full: ", absl::StrJoin(full, ", "),
          "; addresses come back as pods are deleted, more pods need a larger pod CIDR"));
    }
  }
  if (auto status = Persist(); !status.ok()) return rollback(status);
  return AllocationsOfLocked(owner);
}

absl::Status Ipam::Release(const std::string& owner) {
  std::lock_guard lock(mu_);
  if (AllocationsOfLocked(owner).empty()) return absl::OkStatus();
  for (Ipv4Pool& pool : pools_) pool.ReleaseOwner(owner);
  return Persist();
}

absl::StatusOr<std::vector<std::string>> Ipam::ClaimRecorded(
    const std::map<std::string, std::vector<std::string>>& recorded) {
  std::lock_guard lock(mu_);
  const std::vector<Ipv4Pool> before = pools_;
  auto rollback = [&](absl::Status status) {
    pools_ = before;
    return status;
  };
  std::vector<std::string> claimed;
  for (const auto& [owner, addresses] : recorded) {
    for (const std::string& text : addresses) {
      auto address = ParseIpv4(text);
      if (!address.ok()) return rollback(address.status());
      auto pool = std::find_if(pools_.begin(), pools_.end(),
                               [&](const Ipv4Pool& p) { return p.prefix().Contains(*address); });
      if (pool == pools_.end()) {
        return rollback(absl::FailedPreconditionError(
            absl::StrCat("pod ", owner, " is recorded with ", text,
                         ", which is in no pod CIDR of this node; put its CIDR back in pod_cidrs "
                         "or delete the pod")));
      }
      auto held = pool->allocations().find(*address);
      if (held != pool->allocations().end()) {
        if (held->second == owner) continue;
        return rollback(absl::DataLossError(
            absl::StrCat("pod ", owner, " is recorded with ", text, ", which ", state_file_,
                         " gives to ", held->second, "; delete one of the two pods")));
      }
      if (auto status = pool->AllocateExactly(*address, owner); !status.ok()) {
        return rollback(
            absl::Status(status.code(), absl::StrCat("pod ", owner, " is recorded with ", text,
                                                     ": ", status.message(), "; delete the pod")));
      }
      claimed.push_back(absl::StrCat(owner, " ", text));
    }
  }
  if (claimed.empty()) return claimed;
  if (auto status = Persist(); !status.ok()) return rollback(status);
  return claimed;
}

std::vector<Allocation> Ipam::AllocationsOf(const std::string& owner) const {
  std::lock_guard lock(mu_);
  return AllocationsOfLocked(owner);
}

std::vector<Allocation> Ipam::AllocationsOfLocked(const std::string& owner) const {
  std::vector<Allocation> held;
  for (const Ipv4Pool& pool : pools_) {
    for (const auto& [address, holder] : pool.allocations()) {
      if (holder == owner) held.push_back({Ipv4ToString(address), pool.prefix().ToString()});
    }
  }
  return held;
}

std::vector<std::string> Ipam::Owners() const {
  std::lock_guard lock(mu_);
  std::set<std::string> owners;
  for (const Ipv4Pool& pool : pools_) {
    for (const auto& [address, owner] : pool.allocations()) owners.insert(owner);
  }
  return {owners.begin(), owners.end()};
}

size_t Ipam::InUse() const {
  std::lock_guard lock(mu_);
  size_t total = 0;
  for (const Ipv4Pool& pool : pools_) total += pool.allocations().size();
  return total;
}

std::vector<std::string> Ipam::Cidrs() const {
  std::vector<std::string> cidrs;
  for (const Ipv4Pool& pool : pools_) cidrs.push_back(pool.prefix().ToString());
  return cidrs;
}

}  // namespace dpcni::dataplane
