// libFuzzer target: the agent's IPAM state file, ipam.json (dataplane/ipam/ipam.h), read at start
// by Ipam::Open for the node's pod CIDRs (here 10.244.0.0/24 and 10.245.0.0/28, the gateway-side
// address 10.244.0.1 reserved).
//
// Invariants: Open returns an IPAM or an error whose message names the file, never a crash or an
// exception. An IPAM it returns holds every allocation the file lists (one dropped would be an
// address handed out twice), each inside the pod CIDR of its pool; a new allocation then gets an
// address inside a pod CIDR that nobody held, or a clear exhaustion error; and what it persisted
// opens again to the same owners and count.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

#include "ipam/ipam.h"
#include "ipam/ipv4.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_files.h"

namespace dpcni::dataplane {
namespace {

const std::vector<std::string> kCidrs = {"10.244.0.0/24", "10.245.0.0/28"};
const std::vector<std::string> kReserved = {"10.244.0.1"};

// The allocations the file lists, counted as the loader reads them: the "allocations" object of
// every entry of "pools".
size_t ListedAllocations(absl::string_view content) {
  const nlohmann::json state = nlohmann::json::parse(content, nullptr, false);
  size_t listed = 0;
  for (const nlohmann::json& pool : state["pools"]) {
    if (pool.is_object() && pool.contains("allocations")) listed += pool["allocations"].size();
  }
  return listed;
}

// Every address `ipam` holds, after checking each lies in its pool's CIDR.
std::set<std::string> CheckedAddresses(const Ipam& ipam) {
  std::set<std::string> addresses;
  for (const std::string& owner : ipam.Owners()) {
    for (const Allocation& allocation : ipam.AllocationsOf(owner)) {
      const absl::StatusOr<uint32_t> address = ParseIpv4(allocation.address);
      const absl::StatusOr<Ipv4Prefix> pool = Ipv4Prefix::Parse(allocation.pool);
      FUZZ_CHECK(address.ok() && pool.ok(), "allocation %s from pool %s",
                 allocation.address.c_str(), allocation.pool.c_str());
      FUZZ_CHECK(pool->Contains(*address), "%s holds %s outside its pool %s", owner.c_str(),
                 allocation.address.c_str(), allocation.pool.c_str());
      FUZZ_CHECK(addresses.insert(allocation.address).second, "%s is held twice",
                 allocation.address.c_str());
    }
  }
  return addresses;
}

void Check(absl::string_view content) {
  static const std::string path = fuzz::ScratchPath("ipam.json");
  fuzz::WriteScratchFile(path, content);
  absl::StatusOr<std::unique_ptr<Ipam>> ipam = Ipam::Open(kCidrs, kReserved, path);
  if (!ipam.ok()) {
    FUZZ_CHECK(ipam.status().message().find(path) != absl::string_view::npos,
               "the error does not name the file: %s", ipam.status().ToString().c_str());
    return;
  }
  const std::set<std::string> held = CheckedAddresses(**ipam);
  FUZZ_CHECK((*ipam)->InUse() == held.size(), "InUse %zu, %zu addresses held", (*ipam)->InUse(),
             held.size());
  const size_t listed = ListedAllocations(content);
  FUZZ_CHECK(held.size() == listed, "%zu of the %zu allocations in the file were loaded",
             held.size(), listed);

  const std::string owner = "fuzz-new-owner/eth0";
  const bool had_owner = !(*ipam)->AllocationsOf(owner).empty();
  absl::StatusOr<std::vector<Allocation>> allocated = (*ipam)->Allocate(owner, {});
  if (allocated.ok() && !had_owner) {
    // The pod CIDRs are one pool set: a pod gets one address, from the first CIDR with room.
    FUZZ_CHECK(allocated->size() == 1, "%zu addresses for one pod", allocated->size());
    for (const Allocation& allocation : *allocated) {
      FUZZ_CHECK(!held.contains(allocation.address), "%s handed out while held",
                 allocation.address.c_str());
      FUZZ_CHECK(allocation.address != kReserved[0], "the reserved address handed out");
    }
  } else if (!allocated.ok()) {
    FUZZ_CHECK(!allocated.status().message().empty(), "an allocation error without a message");
  }
  const std::vector<std::string> owners = (*ipam)->Owners();
  const size_t in_use = (*ipam)->InUse();
  CheckedAddresses(**ipam);
  ipam->reset();

  absl::StatusOr<std::unique_ptr<Ipam>> reopened = Ipam::Open(kCidrs, kReserved, path);
  FUZZ_CHECK(reopened.ok(), "what the IPAM persisted does not open: %s",
             reopened.status().ToString().c_str());
  FUZZ_CHECK((*reopened)->InUse() == in_use && (*reopened)->Owners() == owners,
             "reopened with %zu addresses in use, %zu before", (*reopened)->InUse(), in_use);
}

}  // namespace
}  // namespace dpcni::dataplane

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dpcni::dataplane::Check(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
