#include "pods/pod_manager.h"

#include <net/if.h>
#include <rte_ether.h>

#include <algorithm>
#include <functional>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crash_point.h"
#include "common/log.h"
#include "ipam/ipv4.h"
#include "netlink/interface.h"
#include "netns/netns.h"

namespace dpcni::dataplane {
namespace {

// Undo actions for the steps of an ADD, run in reverse unless the ADD commits.
class Rollback {
 public:
  ~Rollback() {
    for (auto undo = steps_.rbegin(); undo != steps_.rend(); ++undo) (*undo)();
  }
  void Add(std::function<void()> undo) { steps_.push_back(std::move(undo)); }
  void Commit() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

absl::Status ValidateIfname(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || ifname == "." || ifname == ".." ||
      ifname.find_first_of("/: \t\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("invalid interface name \"", ifname, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<rte_ether_addr> ParseMac(const std::string& text) {
  rte_ether_addr mac{};
  if (rte_ether_unformat_addr(text.c_str(), &mac) != 0 || !rte_is_unicast_ether_addr(&mac) ||
      rte_is_zero_ether_addr(&mac)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid unicast MAC address \"", text, "\""));
  }
  return mac;
}

std::string HostCidr(const Allocation& allocation) { return allocation.address + "/32"; }

// The wait before a degraded pod's next re-attach: 1 s after the first failure, doubling up to
// 30 s. Short enough that a passing fault costs the pod seconds, long enough not to spin on one
// that stays.
constexpr absl::Duration kFirstRetry = absl::Seconds(1);
constexpr absl::Duration kLongestRetry = absl::Seconds(30);

absl::Duration RetryDelay(uint32_t failed_attempts) {
  absl::Duration delay = kFirstRetry;
  for (uint32_t i = 1; i < failed_attempts && delay < kLongestRetry; ++i) delay *= 2;
  return std::min(delay, kLongestRetry);
}

}  // namespace

PodManager::PodManager(const AgentConfig& config, Ipam& ipam, PortFactory& ports,
                       PodInterfaces& interfaces, Engine& engine, PodStore& store)
    : config_(config),
      ipam_(ipam),
      ports_(ports),
      interfaces_(interfaces),
      engine_(engine),
      store_(store),
      gateway_ip_(ParseIpv4(config.gateway_ip).value_or(0)) {}

std::shared_ptr<std::mutex> PodManager::LockFor(const std::string& key) {
  std::lock_guard lock(key_locks_mu_);
  std::erase_if(key_locks_, [](const auto& entry) { return entry.second.expired(); });
  std::shared_ptr<std::mutex> mutex = key_locks_[key].lock();
  if (!mutex) {
    mutex = std::make_shared<std::mutex>();
    key_locks_[key] = mutex;
  }
  return mutex;
}

absl::Status PodManager::SaveRecords() {
  if (adding_.empty()) return store_.Save(records_);
  std::map<std::string, PodRecord> all = records_;
  all.insert(adding_.begin(), adding_.end());  // no key is in both
  return store_.Save(all);
}

absl::Status PodManager::StartPod(PodRecord& record, bool restoring) {
  auto mac = ParseMac(record.mac);
  if (!mac.ok()) return mac.status();
  Rollback rollback;
  auto port = ports_.Create(record.port.backend,
                            {record.netns_path, record.ifname, *mac, record.mtu, restoring});
  if (!port.ok()) return port.status();
  record.port = *port;
  if (!restoring) CrashPoint("add:port-created");
  rollback.Add([&, restoring] {
    ports_.Remove(record.port, record.netns_path).IgnoreError();
    // A restored pod's eth0 is the persistent tap it has been running on: it stays, with its
    // addresses, for the next attempt. The DPDK side above is all this attempt made.
    if (!restoring) interfaces_.Delete(record.netns_path, record.ifname).IgnoreError();
  });

  std::vector<std::string> addresses;
  for (const Allocation& allocation : record.addresses) addresses.push_back(HostCidr(allocation));
  const InterfaceSpec spec =
      PodInterface(record.ifname, record.mtu, addresses, config_.gateway_ip, record.routes);
  if (auto status = interfaces_.Configure(record.netns_path, spec); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("configure ", record.ifname, " of pod ",
                                                    record.DisplayName(), ": ", status.message()));
  }
  if (!restoring) CrashPoint("add:configured");
  // A pod has one address, from whichever pod CIDR had room (IPAM's pools are one set); a pod of
  // an older agent may hold one per CIDR, of which the first is routed and allowed as its source.
  auto ip = ParseIpv4(record.addresses.front().address);
  if (!ip.ok()) return ip.status();
  if (auto status = engine_.AttachPod({record.port.port_id, *ip, *mac, record.DisplayName()});
      !status.ok()) {
    return status;
  }
  rollback.Commit();
  return absl::OkStatus();
}

absl::StatusOr<PodRecord> PodManager::Add(const AddPodParams& params) {
  const PodRecord& pod = params.pod;
  if (auto status = ValidateIfname(pod.ifname); !status.ok()) return status;
  if (pod.container_id.empty()) return absl::InvalidArgumentError("container id is empty");
  if (!NetnsExists(pod.netns_path)) {
    return absl::InvalidArgumentError(absl::StrCat("netns \"", pod.netns_path, "\" of container ",
                                                   pod.container_id, " does not exist"));
  }
  const std::string key = pod.Key();
  auto key_lock = LockFor(key);
  std::lock_guard serialized(*key_lock);
  std::optional<PodRecord> existing;
  {
    std::lock_guard lock(records_mu_);
    if (auto it = records_.find(key); it != records_.end()) existing = it->second;
  }
  if (existing) {
    if (existing->netns_path != pod.netns_path) {
      return absl::AlreadyExistsError(absl::StrCat("container ", pod.container_id, " already has ",
                                                   pod.ifname, " in netns ", existing->netns_path));
    }
    if (!existing->degraded()) return *existing;  // retried ADD
    // The pod has its record, addresses and interface, only no port: another port would be a
    // second one on its eth0. Try the re-attach now instead.
    if (auto status = ReattachLocked(key, absl::Now()); !status.ok()) {
      return absl::UnavailableError(status.message());
    }
    std::lock_guard lock(records_mu_);
    return records_.at(key);
  }
  {
    std::lock_guard lock(records_mu_);
    if (records_.size() + adds_in_flight_ >= config_.max_pods) {
      return absl::ResourceExhaustedError(
          absl::StrCat("node is at its pod limit (max_pods ", config_.max_pods, ")"));
    }
    ++adds_in_flight_;
  }
  auto record = AddLocked(params);
  if (!record.ok()) {
    std::lock_guard lock(records_mu_);
    --adds_in_flight_;
  }
  return record;
}

absl::StatusOr<std::vector<std::string>> PodManager::PodRoutes(
    const PodRecord& pod, const std::optional<std::vector<std::string>>& requested) {
  if (requested) {
    std::vector<std::string> routes;
    for (const std::string& dst : *requested) {
      auto prefix = Ipv4Prefix::Parse(dst);
      if (!prefix.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("route to \"", dst, "\" for ", pod.ifname,
                                                       ": ", prefix.status().message()));
      }
      routes.push_back(prefix->ToString());
    }
    return routes;
  }
  // A pod's first interface carries its default route. A later one (Multus adds net1 beside eth0)
  // must not: the kernel would put its default route in front of eth0's, and the pod's answers to
  // what came in on eth0 would leave through net1 with eth0's address, dropped there as spoofed.
  absl::StatusOr<bool> has_default = interfaces_.HasDefaultRoute(pod.netns_path);
  if (!has_default.ok()) {
    return absl::Status(has_default.status().code(),
                        absl::StrCat("read the routes of pod ", pod.DisplayName(), ": ",
                                     has_default.status().message()));
  }
  if (*has_default) return std::vector<std::string>{};
  return std::vector<std::string>{"0.0.0.0/0"};
}

absl::StatusOr<PodRecord> PodManager::AddLocked(const AddPodParams& params) {
  PodRecord record = params.pod;
  record.added_unix_nanos = absl::ToUnixNanos(absl::Now());
  record.mtu = params.mtu == 0 ? config_.pod_mtu : params.mtu;
  record.port.backend = ResolveBackend(config_.backend);
  if (record.mtu > config_.pod_mtu) {
    return absl::InvalidArgumentError(absl::StrCat(
        "requested MTU ", record.mtu, " exceeds the node's pod_mtu ", config_.pod_mtu));
  }

  auto routes = PodRoutes(record, params.routes);
  if (!routes.ok()) return routes.status();
  record.routes = *std::move(routes);

  Rollback rollback;
  auto addresses = ipam_.Allocate(record.Key(), params.requested_ips);
  if (!addresses.ok()) return addresses.status();
  record.addresses = *addresses;
  rollback.Add([&] { ipam_.Release(record.Key()).IgnoreError(); });
  CrashPoint("add:allocated");

  if (params.requested_mac.empty()) {
    auto ip = ParseIpv4(record.addresses.front().address);
    if (!ip.ok()) return ip.status();
    record.mac = FormatMac(StableMac(*ip));
  } else {
    auto mac = ParseMac(params.requested_mac);
    if (!mac.ok()) return mac.status();
    record.mac = FormatMac(*mac);
  }

  // Write-ahead: the intent is on disk before anything is made in the kernel or DPDK, so an agent
  // killed from here on finds the record and undoes whatever of the pod exists (Restore). Without
  // it, a crash would leave the pod's interface in its netns with nothing naming it, and the
  // runtime's retried ADD would find its ifname taken.
  record.complete = false;
  {
    std::lock_guard lock(records_mu_);
    adding_[record.Key()] = record;
    if (auto status = SaveRecords(); !status.ok()) {
      adding_.erase(record.Key());
      return status;
    }
  }
  rollback.Add([&] {
    std::lock_guard lock(records_mu_);
    adding_.erase(record.Key());
    SaveRecords().IgnoreError();
  });
  CrashPoint("add:intent-saved");

  if (auto status = StartPod(record, /*restoring=*/false); !status.ok()) return status;
  rollback.Add([&] { StopPod(record, record.netns_path).IgnoreError(); });
  CrashPoint("add:attached");

  record.complete = true;
  std::lock_guard lock(records_mu_);
  adding_.erase(record.Key());
  records_[record.Key()] = record;
  if (auto status = SaveRecords(); !status.ok()) {
    records_.erase(record.Key());
    return status;
  }
  // Counted in records_ from here: leaving the in-flight count in the same critical section keeps a
  // concurrent ADD from counting this pod twice against max_pods.
  --adds_in_flight_;
  rollback.Commit();
  CrashPoint("add:recorded");
  return record;
}

absl::Status PodManager::Delete(const std::string& container_id, const std::string& ifname,
                                const std::string& netns_path) {
  const std::string key = PodRecord::AttachmentKey(container_id, ifname);
  auto key_lock = LockFor(key);
  std::lock_guard serialized(*key_lock);
  return DeleteLocked(key, netns_path);
}

absl::Status PodManager::StopPod(const PodRecord& record, const std::string& netns_path) {
  // The port id the device has now, not the recorded one: once the device is gone, DPDK may have
  // given that id to a newer pod's port, which detaching or stopping by id would take down.
  // A degraded pod has no device: its recorded name, if any, was an earlier process's, and may name
  // one of this process's ports now.
  absl::StatusOr<uint16_t> port_id =
      record.port.device_name.empty()
          ? absl::NotFoundError(absl::StrCat("pod ", record.DisplayName(), " has no DPDK device"))
          : ports_.Find(record.port.device_name);
  if (port_id.ok()) {
    if (auto status = engine_.DetachPod(*port_id); !status.ok() && !absl::IsNotFound(status)) {
      return status;
    }
    CrashPoint("del:detached");
    if (auto status = ports_.Remove(record.port, netns_path); !status.ok()) return status;
    CrashPoint("del:port-removed");
  } else if (!absl::IsNotFound(port_id.status())) {
    return port_id.status();
  }
  // DPDK never deletes a persistent tap (nor the tap PMD's, made with persist): that is ours to do.
  return interfaces_.Delete(netns_path, record.ifname);
}

absl::Status PodManager::DeleteLocked(const std::string& key, const std::string& netns_path) {
  std::optional<PodRecord> record;
  {
    std::lock_guard lock(records_mu_);
    if (auto it = records_.find(key); it != records_.end()) record = it->second;
  }
  if (record) {
    const std::string& netns = netns_path.empty() ? record->netns_path : netns_path;
    if (auto status = StopPod(*record, netns); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat("delete pod ", record->DisplayName(), ": ",
                                                      status.message()));
    }
  }
  CrashPoint("del:stopped");
  // Released even without a record: an ADD that crashed between IPAM and the record leaves an
  // address behind that only this owner key can free.
  if (auto status = ipam_.Release(key); !status.ok()) return status;
  CrashPoint("del:released");
  if (!record) return absl::OkStatus();
  std::lock_guard lock(records_mu_);
  records_.erase(key);
  retry_at_.erase(key);
  return SaveRecords();
}

absl::Status PodManager::Check(const CheckPodParams& params) {
  const std::string key = PodRecord::AttachmentKey(params.container_id, params.ifname);
  auto key_lock = LockFor(key);
  std::lock_guard serialized(*key_lock);
  PodRecord record;
  {
    std::lock_guard lock(records_mu_);
    auto it = records_.find(key);
    if (it == records_.end()) {
      return absl::NotFoundError(absl::StrCat("no pod with container ", params.container_id,
                                              " and interface ", params.ifname));
    }
    record = it->second;
  }
  const std::string who = absl::StrCat("pod ", record.DisplayName(), ": ");
  if (record.degraded()) {
    return absl::FailedPreconditionError(absl::StrCat(
        who, "not attached to the dataplane since the agent restarted (degraded: ",
        record.attach_attempts,
        " re-attach attempts failed, the last with: ", record.degraded_reason,
        "); the agent keeps retrying, see `dpcnictl pods` and its log; DEL frees the address"));
  }
  for (const std::string& expected : params.expected_ips) {
    const std::string address = expected.substr(0, expected.find('/'));
    const bool ours = std::any_of(record.addresses.begin(), record.addresses.end(),
                                  [&](const Allocation& a) { return a.address == address; });
    if (!ours) {
      return absl::FailedPreconditionError(absl::StrCat(who, "runtime expects address ", expected,
                                                        " which the agent did not assign"));
    }
  }
  if (!params.expected_mac.empty() && !absl::EqualsIgnoreCase(params.expected_mac, record.mac)) {
    return absl::FailedPreconditionError(absl::StrCat(
        who, "runtime expects MAC ", params.expected_mac, ", the agent assigned ", record.mac));
  }
  const std::string& netns = params.netns_path.empty() ? record.netns_path : params.netns_path;
  absl::StatusOr<InterfaceState> state = interfaces_.Read(netns, record.ifname, config_.gateway_ip);
  if (!state.ok())
    return absl::FailedPreconditionError(absl::StrCat(who, state.status().message()));
  if (!state->up)
    return absl::FailedPreconditionError(absl::StrCat(who, record.ifname, " is down"));
  for (const Allocation& allocation : record.addresses) {
    if (std::find(state->addresses.begin(), state->addresses.end(), HostCidr(allocation)) ==
        state->addresses.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat(who, record.ifname, " lacks address ", HostCidr(allocation), " (has ",
                       absl::StrJoin(state->addresses, ", "), ")"));
    }
  }
  for (const std::string& dst : record.routes) {
    if (std::find(state->routes_via_gateway.begin(), state->routes_via_gateway.end(), dst) ==
        state->routes_via_gateway.end()) {
      return absl::FailedPreconditionError(absl::StrCat(who, "no route to ", dst, " via ",
                                                        config_.gateway_ip, " on ", record.ifname));
    }
  }
  absl::StatusOr<uint16_t> port_id = ports_.Find(record.port.device_name);
  if (!port_id.ok() || *port_id != record.port.port_id) {
    return absl::FailedPreconditionError(absl::StrCat(who, "dataplane port ", record.port.port_id,
                                                      " (", record.port.device_name,
                                                      ") no longer exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PodRecord>> PodManager::GarbageCollect(
    const std::string& network, const std::set<std::string>& valid_keys) {
  std::vector<PodRecord> stale;
  for (const PodRecord& record : List()) {
    if (record.network == network && !valid_keys.contains(record.Key())) stale.push_back(record);
  }
  std::vector<std::string> failures;
  std::vector<PodRecord> removed;
  for (const PodRecord& record : stale) {
    if (auto status = Delete(record.container_id, record.ifname, ""); !status.ok()) {
      failures.push_back(std::string(status.message()));
    } else {
      removed.push_back(record);
    }
  }
  std::set<std::string> recorded;
  for (const PodRecord& record : List()) recorded.insert(record.Key());
  for (const std::string& owner : ipam_.Owners()) {
    if (recorded.contains(owner) || valid_keys.contains(owner)) continue;
    auto key_lock = LockFor(owner);
    std::lock_guard serialized(*key_lock);
    std::lock_guard lock(records_mu_);
    // Re-checked under the key lock: an ADD may have completed since the snapshot above.
    if (!records_.contains(owner)) {
      if (auto status = ipam_.Release(owner); !status.ok()) {
        failures.push_back(absl::StrCat("release the address of ", owner, ": ", status.message()));
      }
    }
  }
  if (!failures.empty()) {
    return absl::InternalError(
        absl::StrCat("garbage collection removed ", removed.size(), " of ", stale.size(),
                     " stale attachments; it left ", failures.size(),
                     " for the next GC or DEL: ", absl::StrJoin(failures, "; ")));
  }
  return removed;
}

absl::Status PodManager::Restore() {
  auto saved = store_.Load();
  if (!saved.ok()) return saved.status();
  // Every recorded pod's addresses are claimed before anything is re-attached, so no restored pod's
  // address can be handed out again (owners without a record are GC's: it knows the valid ones).
  std::map<std::string, std::vector<std::string>> recorded;
  for (const auto& [key, record] : *saved) {
    std::vector<std::string>& addresses = recorded[key];
    for (const Allocation& allocation : record.addresses) addresses.push_back(allocation.address);
  }
  auto claimed = ipam_.ClaimRecorded(recorded);
  if (!claimed.ok()) return claimed.status();
  for (const std::string& claim : *claimed) {
    DPCNI_LOG(kWarning, "pods", "took back ", claim, ": recorded for the pod, free in the IPAM");
  }
  for (auto& [key, record] : *saved) {
    if (!record.complete) {
      // An ADD the agent was killed in: the runtime got no result, so the pod is undone, whatever
      // of it was made (its interface, by the recorded name; DPDK's side died with the process).
      DPCNI_LOG(kWarning, "pods", "undoing the unfinished ADD of ", record.DisplayName(), " (", key,
                ")");
      if (NetnsExists(record.netns_path)) {
        if (auto status = interfaces_.Delete(record.netns_path, record.ifname); !status.ok()) {
          return absl::Status(
              status.code(), absl::StrCat("undo the unfinished ADD of ", record.DisplayName(), ": ",
                                          status.message()));
        }
      }
      if (auto status = ipam_.Release(key); !status.ok()) return status;
      continue;
    }
    if (!NetnsExists(record.netns_path)) {
      // The pod went away while the agent was down: nothing to re-attach, only the address to free.
      if (auto status = ipam_.Release(key); !status.ok()) return status;
      continue;
    }
    if (record.addresses.size() > 1) {
      // An agent before 2026-12-01 gave a pod one address per pod CIDR. They all stay held while
      // the pod lives (its interface still carries them: another pod must not get one), the first
      // stays the one the engine routes and allows as its source, as it was then.
      std::vector<std::string> held;
      for (const Allocation& allocation : record.addresses) held.push_back(allocation.address);
      DPCNI_LOG(kWarning, "pods", "pod ", record.DisplayName(), " (", key, ") holds ",
                absl::StrJoin(held, ", "), " from an older agent: only ", held.front(),
                " is routed; the others are freed when the pod is deleted");
    }
    // The recorded device was the earlier process's: this one may have a device by that name.
    record.port.device_name.clear();
    const absl::Status started = StartPod(record, /*restoring=*/true);
    std::lock_guard lock(records_mu_);
    if (!started.ok()) MarkDegraded(record, started, absl::Now());
    records_[key] = record;
  }
  std::lock_guard lock(records_mu_);
  return SaveRecords();
}

void PodManager::MarkDegraded(PodRecord& record, const absl::Status& failure, absl::Time now) {
  // What the failed attempt made is undone: no device of this process carries the pod.
  record.port.device_name.clear();
  record.port.port_id = 0;
  record.degraded_reason =
      failure.message().empty() ? failure.ToString() : std::string(failure.message());
  ++record.attach_attempts;
  const absl::Duration delay = RetryDelay(record.attach_attempts);
  retry_at_[record.Key()] = now + delay;
  DPCNI_LOG(kError, "pods", "cannot attach pod ", record.DisplayName(), " (", record.Key(),
            ") to the dataplane, attempt ", record.attach_attempts, ": ", failure.ToString(),
            "; it keeps its interface and addresses, retrying in ", absl::FormatDuration(delay));
}

absl::Status PodManager::ReattachLocked(const std::string& key, absl::Time now) {
  PodRecord record;
  {
    std::lock_guard lock(records_mu_);
    auto it = records_.find(key);
    if (it == records_.end() || !it->second.degraded()) return absl::OkStatus();  // DEL, or done
    record = it->second;
  }
  const absl::Status started = StartPod(record, /*restoring=*/true);
  std::lock_guard lock(records_mu_);
  if (!started.ok()) {
    MarkDegraded(record, started, now);
    records_[key] = record;
    return absl::Status(started.code(),
                        absl::StrCat("pod ", record.DisplayName(), " is degraded: re-attach ",
                                     record.attach_attempts, " failed: ", started.message()));
  }
  DPCNI_LOG(kInfo, "pods", "re-attached pod ", record.DisplayName(), " (", key, ") after ",
            record.attach_attempts, " failed attempts: port ", record.port.port_id);
  record.degraded_reason.clear();
  record.attach_attempts = 0;
  retry_at_.erase(key);
  records_[key] = record;
  return absl::OkStatus();
}

absl::Duration PodManager::RetryDegraded(absl::Time now) {
  std::vector<std::string> due;
  {
    std::lock_guard lock(records_mu_);
    for (const auto& [key, at] : retry_at_) {
      if (at <= now) due.push_back(key);
    }
  }
  for (const std::string& key : due) {
    auto key_lock = LockFor(key);
    std::lock_guard serialized(*key_lock);
    ReattachLocked(key, now).IgnoreError();  // logged by MarkDegraded
  }
  std::lock_guard lock(records_mu_);
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [key, at] : retry_at_) next = std::min(next, at);
  if (next == absl::InfiniteFuture()) return absl::InfiniteDuration();
  return std::max(next - now, absl::ZeroDuration());
}

size_t PodManager::DegradedCount() const {
  std::lock_guard lock(records_mu_);
  return retry_at_.size();
}

std::vector<PodRecord> PodManager::List() const {
  std::lock_guard lock(records_mu_);
  std::vector<PodRecord> all;
  for (const auto& [key, record] : records_) all.push_back(record);
  return all;
}

size_t PodManager::Count() const {
  std::lock_guard lock(records_mu_);
  return records_.size();
}

}  // namespace dpcni::dataplane
