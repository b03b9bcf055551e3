#include "port/kernel_ports.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_ethdev.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "netlink/interface.h"
#include "netns/netns.h"
#include "port/ethdev_setup.h"
#include "port/mbuf_budget.h"
#include "port/vnet_tap.h"

namespace dpcni::dataplane {
namespace {

constexpr char kVhostNetPath[] = "/dev/vhost-net";

// A persistent tap outlives the fd that made it, so the pod's interface survives an agent restart;
// virtio-user then attaches to it by name. The flags must match what DPDK asks for when it attaches
// (IFF_MULTI_QUEUE included), or TUNSETIFF refuses.
absl::Status CreatePersistentTap(const std::string& ifname) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open /dev/net/tun: ", std::strerror(errno)));
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  ifreq request{};
  std::strncpy(request.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
  if (::ioctl(fd, TUNSETIFF, &request) != 0) {
    return absl::InternalError(absl::StrCat("create tap ", ifname, ": ", std::strerror(errno)));
  }
  if (::ioctl(fd, TUNSETPERSIST, 1) != 0) {
    return absl::InternalError(
        absl::StrCat("make tap ", ifname, " persistent: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

std::string FormatMac(const rte_ether_addr& mac) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", mac.addr_bytes[0], mac.addr_bytes[1],
                         mac.addr_bytes[2], mac.addr_bytes[3], mac.addr_bytes[4],
                         mac.addr_bytes[5]);
}

rte_ether_addr StableMac(uint32_t ipv4) {
  return rte_ether_addr{{0x02, 0xdc, static_cast<uint8_t>(ipv4 >> 24),
                         static_cast<uint8_t>(ipv4 >> 16), static_cast<uint8_t>(ipv4 >> 8),
                         static_cast<uint8_t>(ipv4)}};
}

PortBackend ResolveBackend(PortBackend configured) {
  if (configured != PortBackend::kAuto) return configured;
  return ::access(kVhostNetPath, R_OK | W_OK) == 0 ? PortBackend::kVhostNet : PortBackend::kTap;
}

KernelPorts::KernelPorts(rte_mempool* pool, uint16_t tx_queues, uint16_t queue_size,
                         bool rx_interrupts)
    : pool_(pool), tx_queues_(tx_queues), queue_size_(queue_size), rx_interrupts_(rx_interrupts) {}

absl::StatusOr<KernelPort> KernelPorts::Create(PortBackend backend,
                                               const KernelPortRequest& request) {
  std::lock_guard lock(lifecycle_mu_);
  absl::StatusOr<KernelPort> port = absl::InternalError("not created");
  absl::Status entered = RunInNetns(request.netns_path, [&] {
    port = CreateInCurrentNetns(ResolveBackend(backend), request);
    return port.status();
  });
  if (!entered.ok()) return entered;
  return port;
}

absl::StatusOr<KernelPort> KernelPorts::CreateInCurrentNetns(PortBackend backend,
                                                             const KernelPortRequest& request) {
  KernelPort port;
  port.backend = backend;
  std::string devargs;
  const std::string mac = FormatMac(request.mac);
  if (backend == PortBackend::kVhostNet) {
    if (auto status = CreatePersistentTap(request.ifname); !status.ok()) return status;
    port.device_name = absl::StrCat("virtio_user", next_device_index_++);
    devargs = absl::StrCat("path=", kVhostNetPath, ",queues=", tx_queues_,
                           ",queue_size=", queue_size_, ",iface=", request.ifname, ",mac=", mac);
  } else {
#if DPCNI_VNET_TAP
    // Our own vnet_tap driver (vnet_tap.h): the tap it makes or attaches to is persistent, so the
    // pod's interface outlives the agent, and it keeps the stable MAC its neighbours know.
    port.device_name = absl::StrCat(kVnetTapDriver, next_device_index_++);
    devargs = VnetTapDevargs(request.ifname, mac);
#else
    // Built on Debian's DPDK, which lacks the driver headers vnet_tap needs: DPDK's net_tap.
    // persist: the pod's interface must not vanish when the agent exits; a stable mac= because
    // every attach would otherwise pick a new random one.
    port.device_name = absl::StrCat("net_tap", next_device_index_++);
    devargs = absl::StrCat("iface=", request.ifname, ",mac=", mac, ",persist");
#endif
  }
  const std::string what = absl::StrCat(PortBackendName(backend), " port ", port.device_name, " (",
                                        request.ifname, " in ", request.netns_path, ")");
  // Whatever fails below, the kernel interface goes too, unless it is a running pod's: deleting it
  // would take the pod's eth0 and addresses with it over what may be a passing fault.
  absl::Cleanup delete_interface = [&request] {
    if (!request.keep_interface) DeleteInterface(request.ifname).IgnoreError();
  };

  if (int error = rte_eal_hotplug_add("vdev", port.device_name.c_str(), devargs.c_str());
      error != 0) {
    absl::Status status = DpdkError(absl::StrCat("create ", what), error);
#if DPCNI_VNET_TAP
    if (backend == PortBackend::kTap) {
      if (std::string why = VnetTapLastProbeError(); !why.empty()) {
        return absl::Status(status.code(), absl::StrCat(status.message(), ": ", why));
      }
    }
#endif
    return status;
  }
  if (int error = rte_eth_dev_get_port_by_name(port.device_name.c_str(), &port.port_id);
      error != 0) {
    rte_eal_hotplug_remove("vdev", port.device_name.c_str());
    return DpdkError(absl::StrCat("find ethdev of ", what), error);
  }
  PortQueues queues{pool_, tx_queues_, queue_size_, request.mtu};
  queues.rx_descriptors = KernelPortRxDescriptors(backend, queue_size_);
  queues.rx_interrupts = rx_interrupts_;
  if (backend == PortBackend::kVhostNet) queues.tx_unreclaimed_max = kVirtioTxUnreclaimedMax;
  if (auto status = ConfigureAndStartPort(port.port_id, queues); !status.ok()) {
    RemoveDevice(port).IgnoreError();
    return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
  }
  std::move(delete_interface).Cancel();
  return port;
}

absl::Status KernelPorts::RemoveDevice(const KernelPort& port) {
  uint16_t port_id = 0;
  // Gone already (an earlier attempt got this far): stopping port.port_id now could stop whatever
  // device DPDK gave that id since, and removing the vdev again fails every time.
  if (rte_eth_dev_get_port_by_name(port.device_name.c_str(), &port_id) != 0)
    return absl::OkStatus();
  // Stopping an ethdev that never started is harmless; removing the vdev closes and frees the
  // ethdev.
  rte_eth_dev_stop(port_id);
  if (int error = rte_eal_hotplug_remove("vdev", port.device_name.c_str()); error != 0) {
    return DpdkError(absl::StrCat("remove ", port.device_name), error);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> KernelPorts::Find(const std::string& device_name) {
  std::lock_guard lock(lifecycle_mu_);
  uint16_t port_id = 0;
  if (rte_eth_dev_get_port_by_name(device_name.c_str(), &port_id) != 0) {
    return absl::NotFoundError(absl::StrCat("no DPDK device ", device_name));
  }
  return port_id;
}

absl::Status KernelPorts::Remove(const KernelPort& port, const std::string& netns_path) {
  std::lock_guard lock(lifecycle_mu_);
  // Inside the pod's netns, where the PMD made the interface, while that netns exists.
  if (NetnsExists(netns_path)) {
    absl::Status status = RunInNetns(netns_path, [&] { return RemoveDevice(port); });
    if (!absl::IsNotFound(status)) return status;
  }
  return RemoveDevice(port);
}

absl::Status KernelPorts::Destroy(const KernelPort& port, const std::string& netns_path,
                                  const std::string& ifname) {
  std::lock_guard lock(lifecycle_mu_);
  auto remove_all = [&] {
    absl::Status removed = RemoveDevice(port);
    // DPDK never deletes a persistent tap: that is ours to do.
    absl::Status deleted = DeleteInterface(ifname);
    return removed.ok() ? deleted : removed;
  };
  if (NetnsExists(netns_path)) {
    absl::Status status = RunInNetns(netns_path, remove_all);
    if (!absl::IsNotFound(status)) return status;
  }
  // The sandbox is gone and took the interface with it; only the DPDK side remains.
  return RemoveDevice(port);
}

}  // namespace dpcni::dataplane
