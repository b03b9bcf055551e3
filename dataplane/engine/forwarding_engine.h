// The Engine implementation: owns the route table (rte_lpm), the next-hop table, the RCU variable
// and the workers, and serializes control-plane calls on a mutex that the fast path never takes.
#pragma once

#include <rte_lpm.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/next_hop_table.h"
#include "dataplane/engine/worker.h"

namespace dpcni::dataplane {

class ForwardingEngine final : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<ForwardingEngine>> Create(const EngineConfig& config);
  ~ForwardingEngine() override;

  absl::Status Start() override;
  void Stop() override;
  absl::Status AttachPod(const PodEndpoint& pod) override;
  absl::Status DetachPod(uint16_t port_id) override;
  absl::StatusOr<PortCounters> Counters(uint16_t port_id) const override;
  std::vector<RouteInfo> Routes() const override;

  // How much worker `worker` (its position in EngineConfig::worker_lcores) polled and slept.
  WorkerActivity Activity(size_t worker) const { return workers_.at(worker)->Activity(); }

 private:
  struct LpmDeleter {
    void operator()(rte_lpm* lpm) const { rte_lpm_free(lpm); }
  };
  struct RteFreeDeleter {
    void operator()(void* memory) const { rte_free(memory); }
  };
  struct MempoolDeleter {
    void operator()(rte_mempool* pool) const { rte_mempool_free(pool); }
  };

  struct AttachedPod {
    PodEndpoint endpoint;
    uint32_t next_hop_id = 0;
    size_t worker = 0;
  };

  explicit ForwardingEngine(const EngineConfig& config);
  absl::Status CreateTables();
  void CreateWorkers();

  absl::Status ValidateNewPod(const PodEndpoint& pod) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  size_t LeastLoadedWorker() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Swaps in a worker's new poll list and frees the old one after an RCU grace period; anything
  // unpublished before this call is out of every worker's reach when it returns.
  void PublishPollList(size_t worker, std::unique_ptr<const PollList> list)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void StopLaunchedWorkers(size_t launched) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const EngineConfig config_;
  const unsigned instance_;  // makes this engine's DPDK object names unique in the process
  // Declared before the LPM, which holds a defer queue on it and so must be freed first.
  std::unique_ptr<rte_rcu_qsbr, RteFreeDeleter> rcu_;
  std::unique_ptr<rte_lpm, LpmDeleter> lpm_;
  std::unique_ptr<rte_mempool, MempoolDeleter> gso_direct_pool_;
  std::unique_ptr<rte_mempool, MempoolDeleter> gso_indirect_pool_;
  std::atomic<bool> stop_{false};

  mutable absl::Mutex mutex_;
  NextHopTable next_hops_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<uint16_t, AttachedPod> pods_ ABSL_GUARDED_BY(mutex_);
  bool running_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace dpcni::dataplane
