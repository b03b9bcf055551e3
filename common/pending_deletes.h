// Where the plugin queues the DELs it could not hand to the agent (proto's QueuedDelete), and where
// the agent finds them: a folder beside the agent's socket, which both the host's plugin and the
// agent's container see.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace dpcni {

inline std::string PendingDeletesDir(std::string_view agent_socket) {
  std::filesystem::path dir = std::filesystem::path(agent_socket).parent_path();
  if (dir.empty()) dir = ".";
  return (dir / "pending-deletes").string();
}

// `<container_id>:<ifname>.del`: neither a CNI container id nor an interface name holds a ':'.
inline std::string PendingDeletePath(std::string_view agent_socket, std::string_view container_id,
                                     std::string_view ifname) {
  std::string path = PendingDeletesDir(agent_socket);
  path.append("/").append(container_id).append(":").append(ifname).append(".del");
  return path;
}

}  // namespace dpcni
