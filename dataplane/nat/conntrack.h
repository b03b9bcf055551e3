// The node kernel's NATed connections, read from conntrack (libnl-nf): what the dataplane's flow
// table must know again after the agent restarts, before the kernel forwards their next packet.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"

namespace dpcni::dataplane {

// Every IPv4 connection with a source or destination NAT that conntrack tracks in the calling
// thread's network namespace. Other protocols and families are left out.
absl::StatusOr<std::vector<NatedFlow>> ReadNatedConnections();

// Whether conntrack's TCP state (TCP_CONNTRACK_*) is one of a connection that closes or closed.
bool TcpStateIsClosing(uint8_t state);

}  // namespace dpcni::dataplane
