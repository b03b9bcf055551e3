#include "node/host_port.h"

#include "absl/strings/str_cat.h"
#include "ipam/ipv4.h"
#include "netlink/interface.h"
#include "netns/netns.h"

namespace dpcni::dataplane {
namespace {

// The agent's own netns, as a path RunInNetns can enter from a fresh thread.
constexpr char kOwnNetns[] = "/proc/self/ns/net";

}  // namespace

absl::StatusOr<HostPort> SetUpHostPort(const AgentConfig& config, KernelPorts& ports) {
  auto address = HostPortAddress(config);
  if (!address.ok()) return address.status();
  auto ip = ParseIpv4(*address);
  if (!ip.ok()) return ip.status();

  HostPort host;
  host.ifname = config.host_port.name;
  host.kernel_mac = StableMac(*ip);
  auto port =
      ports.Create(config.backend, {kOwnNetns, host.ifname, host.kernel_mac, config.pod_mtu});
  if (!port.ok()) {
    return absl::Status(port.status().code(),
                        absl::StrCat("host port ", host.ifname, ": ", port.status().message()));
  }
  host.port = *port;

  InterfaceSpec spec{host.ifname, config.pod_mtu, {*address + "/32"}, {}};
  for (const std::string& cidr : config.pod_cidrs) spec.routes.push_back({cidr, ""});
  if (auto status = RunInNetns(kOwnNetns, [&] { return ConfigureInterface(spec); }); !status.ok()) {
    ports.Destroy(host.port, kOwnNetns, host.ifname).IgnoreError();
    return absl::Status(status.code(), absl::StrCat("configure host port ", host.ifname, " (",
                                                    *address, "): ", status.message()));
  }
  return host;
}

}  // namespace dpcni::dataplane
