// The pod lifecycle: ADD, DEL, CHECK and GC as the agent carries them out, each step undone in
// reverse when a later one fails, so a failed ADD leaves no port, tap, address or record behind.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/agent_config.h"
#include "engine/engine.h"
#include "ipam/ipam.h"
#include "pods/pod_interfaces.h"
#include "pods/pod_record.h"
#include "port/kernel_ports.h"

namespace dpcni::dataplane {

struct AddPodParams {
  // Identity and placement: container id, ifname, netns and pod names; the rest is decided by ADD.
  PodRecord pod;
  std::string requested_mac;
  std::vector<std::string> requested_ips;
  uint32_t mtu = 0;  // 0: the configured pod MTU
  // Prefixes to route through the gateway on this interface ("0.0.0.0/0": the default route).
  // nullopt: the default route when the pod's netns has none yet, else none (see AddPodRequest).
  std::optional<std::vector<std::string>> routes;
};

struct CheckPodParams {
  std::string container_id;
  std::string ifname;
  std::string netns_path;
  std::vector<std::string> expected_ips;  // CIDRs from the runtime's prevResult
  std::string expected_mac;
};

class PodManager {
 public:
  // `ports` makes the pods' DPDK ports, `interfaces` configures their kernel side: the agent passes
  // KernelPorts and NetlinkPodInterfaces, unit tests fakes.
  PodManager(const AgentConfig& config, Ipam& ipam, PortFactory& ports, PodInterfaces& interfaces,
             Engine& engine, PodStore& store);

  // Re-attaches the pods recorded by an earlier agent whose netns still exist (their interfaces are
  // persistent taps, so the pods keep their eth0 and addresses), and forgets the rest. A pod whose
  // re-attach fails is kept degraded: its record, addresses and interface stay (a running pod must
  // not lose its eth0, nor its address to another pod, over what may be a passing fault) and
  // RetryDegraded tries again.
  absl::Status Restore();
  // Re-attaches the degraded pods whose retry is due at `now`. Each failure doubles that pod's
  // wait, from 1 s up to 30 s. Returns the time until the next retry is due (InfiniteDuration when
  // no pod is degraded). The agent calls it from a timer thread.
  absl::Duration RetryDegraded(absl::Time now);

  // ADD again for a recorded pod returns its record; for a degraded one it first tries the
  // re-attach at once, and fails (UNAVAILABLE, naming the fault) while that fails.
  absl::StatusOr<PodRecord> Add(const AddPodParams& params);
  // Idempotent: a pod, port or netns that is already gone is success. An empty netns_path (the
  // runtime's second DEL after the sandbox is gone) uses the recorded one. Every step (engine,
  // DPDK device, kernel interface) finds what it undoes by the recorded device and interface names
  // and takes "already gone" as done, so a DEL retried after a step failed carries on from there;
  // the address and the record go only once every step is done.
  absl::Status Delete(const std::string& container_id, const std::string& ifname,
                      const std::string& netns_path);
  absl::Status Check(const CheckPodParams& params);
  // Removes every pod of `network` whose (container id, ifname) is not in `valid_keys`, and
  // releases addresses whose owner is neither a pod nor valid (left by a crash between two steps).
  // Best effort: a step that fails does not stop the others; the error then names every failure,
  // and what failed stays recorded for the next GC or DEL.
  absl::StatusOr<std::vector<PodRecord>> GarbageCollect(const std::string& network,
                                                        const std::set<std::string>& valid_keys);

  std::vector<PodRecord> List() const;
  size_t Count() const;
  size_t DegradedCount() const;
  size_t Capacity() const { return config_.max_pods; }

 private:
  absl::StatusOr<PodRecord> AddLocked(const AddPodParams& params);
  // What ADD routes through the gateway on the pod's interface: `requested` when set, else the
  // default route if the pod has none yet.
  absl::StatusOr<std::vector<std::string>> PodRoutes(
      const PodRecord& pod, const std::optional<std::vector<std::string>>& requested);
  // `restoring`: the pod's interface exists and is in use (a restored pod), so a failure removes
  // only the DPDK side this attempt made; on ADD the interface goes too (and ADD's crash points
  // apply).
  absl::Status StartPod(PodRecord& record, bool restoring);
  // One re-attach of the degraded pod `key`, under its key lock: on success the pod is attached and
  // no longer degraded; on failure the error, with the next retry scheduled after `now`.
  absl::Status ReattachLocked(const std::string& key, absl::Time now);
  // Records the failed attempt on `record` and schedules its retry; requires records_mu_.
  void MarkDegraded(PodRecord& record, const absl::Status& failure, absl::Time now);
  // Detaches, removes the DPDK device and deletes the kernel interface: each step skipped when its
  // object is gone already.
  absl::Status StopPod(const PodRecord& record, const std::string& netns_path);
  absl::Status DeleteLocked(const std::string& key, const std::string& netns_path);
  std::shared_ptr<std::mutex> LockFor(const std::string& key);
  absl::Status SaveRecords();  // requires records_mu_

  const AgentConfig& config_;
  Ipam& ipam_;
  PortFactory& ports_;
  PodInterfaces& interfaces_;
  Engine& engine_;
  PodStore& store_;
  uint32_t gateway_ip_;

  // One mutex per attachment: the runtime may run ADD and DEL of one pod concurrently, and
  // different pods in parallel. The records map has its own short-held mutex.
  std::mutex key_locks_mu_;
  std::map<std::string, std::weak_ptr<std::mutex>> key_locks_;

  mutable std::mutex records_mu_;
  std::map<std::string, PodRecord> records_;
  // ADDs under way past their write-ahead record (PodRecord::complete false): saved with records_,
  // listed nowhere else. Guarded by records_mu_.
  std::map<std::string, PodRecord> adding_;
  // ADDs past the max_pods check whose record is not in records_ yet; counted against max_pods,
  // guarded by records_mu_.
  size_t adds_in_flight_ = 0;
  // When each degraded pod's next re-attach is due, by key; guarded by records_mu_.
  std::map<std::string, absl::Time> retry_at_;
};

}  // namespace dpcni::dataplane
