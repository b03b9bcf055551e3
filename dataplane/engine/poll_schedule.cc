#include "dataplane/engine/poll_schedule.h"

namespace dpcni::dataplane {

PollSchedule::PollSchedule(uint64_t idle_after) : idle_after_(idle_after) {
  // A poll list names each ethdev at most once: these never grow past this, so the worker never
  // allocates.
  port_ids_.reserve(RTE_MAX_ETHPORTS);
  active_.reserve(RTE_MAX_ETHPORTS);
}

void PollSchedule::Adopt(uint64_t generation, std::span<const ScheduledPort> ports, uint64_t now) {
  port_ids_.clear();
  active_.clear();
  for (size_t position = 0; position < ports.size(); ++position) {
    const ScheduledPort& port = ports[position];
    if (port.since_generation > generation_) {
      // Attached since the last list we saw, possibly on the port id of one detached meanwhile.
      is_active_[port.port_id] = true;
      last_received_[port.port_id] = now;
    }
    port_ids_.push_back(port.port_id);
    if (is_active_[port.port_id]) {
      active_.push_back(static_cast<uint16_t>(position));
    }
  }
  if (sweep_cursor_ >= ports.size()) {
    sweep_cursor_ = 0;
  }
  generation_ = generation;
}

}  // namespace dpcni::dataplane
