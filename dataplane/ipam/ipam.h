// Built-in IPAM: hands out pod addresses from the node's pod CIDR(s), one per pod, and persists
// every allocation before returning it, so that an agent restart never hands out a live address
// twice.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ipam/ipv4.h"

namespace dpcni::dataplane {

struct Allocation {
  std::string address;  // "10.244.0.5"
  std::string pool;     // the pod CIDR it came from, "10.244.0.0/24"
};

// One pod CIDR. Next-fit allocation: a released address is handed out again only after the rest of
// the pool has been used, which keeps stale conntrack and ARP entries from meeting a new pod.
class Ipv4Pool {
 public:
  // `reserved` addresses (e.g. the node's own address on the host port) are never handed out; the
  // network and broadcast addresses never are either.
  Ipv4Pool(Ipv4Prefix prefix, std::vector<uint32_t> reserved);

  absl::StatusOr<uint32_t> AllocateNext(const std::string& owner);
  absl::Status AllocateExactly(uint32_t address, const std::string& owner);
  void ReleaseOwner(const std::string& owner);

  const Ipv4Prefix& prefix() const { return prefix_; }
  const std::map<uint32_t, std::string>& allocations() const { return allocations_; }
  uint32_t cursor() const { return cursor_; }
  void Restore(std::map<uint32_t, std::string> allocations, uint32_t cursor);

 private:
  bool Usable(uint32_t address) const;

  Ipv4Prefix prefix_;
  std::vector<uint32_t> reserved_;
  std::map<uint32_t, std::string> allocations_;
  uint32_t cursor_;  // the last address handed out
};

class Ipam {
 public:
  // Opens the IPAM over `cidrs`, loading earlier allocations from `state_file` when it exists. A
  // state file written for other CIDRs is an error: silently dropping it could hand out live
  // addresses.
  static absl::StatusOr<std::unique_ptr<Ipam>> Open(const std::vector<std::string>& cidrs,
                                                    const std::vector<std::string>& reserved,
                                                    const std::string& state_file);

  // One address for `owner`. The pools are one set: the address comes from the first pod CIDR, in
  // the configured order, with a free one, so a full CIDR falls through to the next; all full is
  // RESOURCE_EXHAUSTED naming each. `requested` (runtimeConfig.ips: at most one, "10.244.0.9" or
  // with a /len) picks that address, from any CIDR of the set. Calling again for the same owner
  // returns what it already holds (a pod of an agent before 2026-12-01 may hold one per CIDR).
  absl::StatusOr<std::vector<Allocation>> Allocate(const std::string& owner,
                                                   const std::vector<std::string>& requested);
  // Releases everything `owner` holds; releasing nothing is fine (DEL is idempotent).
  absl::Status Release(const std::string& owner);

  // Takes back, at start, every address the pod records hold (`recorded`: owner -> its addresses),
  // so a crash between freeing an address and erasing its record, or a lost ipam.json, never lets a
  // restored pod's address go to someone else. Returns "owner address" for each one taken back. An
  // address recorded for one pod but held by another owner, or outside every pod CIDR, is a start
  // error naming both; nothing changes then. Owners without a record are left to GC, which knows
  // the runtime's valid attachments: a lost pods.json must not free the addresses of running pods.
  absl::StatusOr<std::vector<std::string>> ClaimRecorded(
      const std::map<std::string, std::vector<std::string>>& recorded);

  std::vector<Allocation> AllocationsOf(const std::string& owner) const;
  // Every owner holding at least one address.
  std::vector<std::string> Owners() const;
  size_t InUse() const;
  std::vector<std::string> Cidrs() const;

 private:
  Ipam(std::vector<Ipv4Pool> pools, std::string state_file);
  absl::Status Load();
  absl::Status Persist() const;
  std::vector<Allocation> AllocationsOfLocked(const std::string& owner) const;

  mutable std::mutex mu_;
  std::vector<Ipv4Pool> pools_;
  const std::string state_file_;
};

}  // namespace dpcni::dataplane
