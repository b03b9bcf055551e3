// Measures the engine's forwarding rate between two net_null ports on one worker lcore, in both
// directions at once (as testpmd's io forwarding does with two ports), and prints it the way
// bench/engine/run.sh reads it.
//
// net_null hands out mbufs with whatever bytes they held before, which the engine would drop. An Rx
// callback on each port therefore writes a valid 64-byte IPv4/UDP frame from that port's pod to the
// other pod into every received mbuf: the same per-packet write that net_null's own copy mode does,
// but with a frame the engine routes.
//
// Usage: engine_bench <EAL args, with two net_null vdevs> -- [--seconds=N] [--warmup_seconds=N]
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dataplane/engine/engine.h"

ABSL_FLAG(int, seconds, 10, "measured seconds (one sample per second)");
ABSL_FLAG(int, warmup_seconds, 2, "seconds forwarded before sampling starts");
ABSL_FLAG(int, burst, 32, "Rx burst size of the worker");

namespace dpcni::bench {
namespace {

using dataplane::EngineConfig;
using dataplane::PodEndpoint;

constexpr uint16_t kFrameSize = 64;  // net_null's default packet size
constexpr uint16_t kQueueSize = 1024;
constexpr uint32_t kGatewayIp = RTE_IPV4(169, 254, 1, 1);
constexpr rte_ether_addr kGatewayMac = {{0x02, 0xdc, 0x00, 0x00, 0x00, 0x01}};

struct BenchPod {
  uint16_t port_id;
  uint32_t ip;
  rte_ether_addr mac;
  std::array<uint8_t, kFrameSize> frame;  // what this pod "sends": a frame to the other pod
};

std::array<uint8_t, kFrameSize> BuildFrame(const BenchPod& from, uint32_t to_ip) {
  std::array<uint8_t, kFrameSize> frame{};
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(frame.data());
  ethernet->src_addr = from.mac;
  ethernet->dst_addr = kGatewayMac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(kFrameSize - sizeof(rte_ether_hdr));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(from.ip);
  ip->dst_addr = rte_cpu_to_be_32(to_ip);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = RTE_BE16(40000);
  udp->dst_port = RTE_BE16(5001);
  udp->dgram_len = rte_cpu_to_be_16(kFrameSize - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
  return frame;
}

// The Rx callback: turns whatever net_null handed out into this pod's frame.
uint16_t WriteFrame(uint16_t, uint16_t, rte_mbuf** packets, uint16_t count, uint16_t, void* pod) {
  const auto& frame = static_cast<const BenchPod*>(pod)->frame;
  for (uint16_t i = 0; i < count; ++i) {
    std::memcpy(rte_pktmbuf_mtod(packets[i], void*), frame.data(), kFrameSize);
  }
  return count;
}

absl::Status StartPort(uint16_t port_id, rte_mempool* pool) {
  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_configure(port_id, 1, 1, &conf); rc != 0) {
    return absl::InternalError(absl::StrCat("configuring port ", port_id, ": ", rte_strerror(-rc)));
  }
  int socket = rte_eth_dev_socket_id(port_id);
  if (int rc = rte_eth_rx_queue_setup(port_id, 0, kQueueSize, socket, nullptr, pool); rc != 0) {
    return absl::InternalError(absl::StrCat("Rx queue of port ", port_id, ": ", rte_strerror(-rc)));
  }
  if (int rc = rte_eth_tx_queue_setup(port_id, 0, kQueueSize, socket, nullptr); rc != 0) {
    return absl::InternalError(absl::StrCat("Tx queue of port ", port_id, ": ", rte_strerror(-rc)));
  }
  if (int rc = rte_eth_dev_start(port_id); rc != 0) {
    return absl::InternalError(absl::StrCat("starting port ", port_id, ": ", rte_strerror(-rc)));
  }
  return absl::OkStatus();
}

uint64_t TransmittedPackets(const dataplane::Engine& engine, const std::vector<BenchPod>& pods) {
  uint64_t total = 0;
  for (const BenchPod& pod : pods) {
    total += engine.Counters(pod.port_id)->tx_packets;
  }
  return total;
}

absl::Status Run() {
  if (rte_eth_dev_count_avail() != 2) {
    return absl::FailedPreconditionError("expected exactly two ports (--vdev net_null0 --vdev net_null1)");
  }
  unsigned worker_lcore = rte_get_next_lcore(-1, /*skip_main=*/1, /*wrap=*/0);
  if (worker_lcore >= RTE_MAX_LCORE) {
    return absl::FailedPreconditionError("no worker lcore: give EAL two lcores (-l 0,1)");
  }
  rte_mempool* pool = rte_pktmbuf_pool_create("bench_pool", 32767, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("mbuf pool: ", rte_strerror(rte_errno)));
  }

  std::vector<BenchPod> pods = {
      {.port_id = 0, .ip = RTE_IPV4(10, 244, 0, 10), .mac = {{0x02, 0, 0, 0, 0, 0x0a}}, .frame = {}},
      {.port_id = 1, .ip = RTE_IPV4(10, 244, 0, 11), .mac = {{0x02, 0, 0, 0, 0, 0x0b}}, .frame = {}},
  };
  pods[0].frame = BuildFrame(pods[0], pods[1].ip);
  pods[1].frame = BuildFrame(pods[1], pods[0].ip);

  absl::StatusOr<std::unique_ptr<dataplane::Engine>> engine = dataplane::CreateEngine(EngineConfig{
      .worker_lcores = {worker_lcore},
      .burst_size = static_cast<uint16_t>(absl::GetFlag(FLAGS_burst)),
      .idle_sleep_max = std::chrono::microseconds(0),  // busy-poll, as testpmd does
      .gateway_ip = kGatewayIp,
      .gateway_mac = kGatewayMac});
  if (!engine.ok()) {
    return engine.status();
  }
  for (BenchPod& pod : pods) {
    if (absl::Status started = StartPort(pod.port_id, pool); !started.ok()) {
      return started;
    }
    if (rte_eth_add_rx_callback(pod.port_id, 0, &WriteFrame, &pod) == nullptr) {
      return absl::InternalError(absl::StrCat("Rx callback on port ", pod.port_id, ": ",
                                              rte_strerror(rte_errno)));
    }
    absl::Status attached = (*engine)->AttachPod(PodEndpoint{
        .port_id = pod.port_id, .ip = pod.ip, .mac = pod.mac, .name = absl::StrCat("bench/pod", pod.port_id)});
    if (!attached.ok()) {
      return attached;
    }
  }
  if (absl::Status started = (*engine)->Start(); !started.ok()) {
    return started;
  }
  std::printf("engine: worker lcore %u, burst %d, 2 net_null ports, 64-byte IPv4/UDP frames\n",
              worker_lcore, absl::GetFlag(FLAGS_burst));

  std::this_thread::sleep_for(std::chrono::seconds(absl::GetFlag(FLAGS_warmup_seconds)));
  std::vector<double> mpps;
  uint64_t previous = TransmittedPackets(**engine, pods);
  auto previous_time = std::chrono::steady_clock::now();
  for (int second = 0; second < absl::GetFlag(FLAGS_seconds); ++second) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    uint64_t now_packets = TransmittedPackets(**engine, pods);
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - previous_time).count();
    mpps.push_back(static_cast<double>(now_packets - previous) / elapsed / 1e6);
    std::printf("sample %d: %.2f Mpps\n", second, mpps.back());
    previous = now_packets;
    previous_time = now;
  }
  (*engine)->Stop();

  for (const BenchPod& pod : pods) {
    absl::StatusOr<dataplane::PortCounters> counters = (*engine)->Counters(pod.port_id);
    std::printf("port %u: rx %lu tx %lu", pod.port_id, counters->rx_packets, counters->tx_packets);
    for (const auto& [reason, dropped] : counters->drops) {
      std::printf(" drop[%s] %lu", reason.c_str(), dropped);
    }
    std::printf("\n");
    (*engine)->DetachPod(pod.port_id).IgnoreError();
    rte_eth_dev_stop(pod.port_id);
    rte_eth_dev_close(pod.port_id);
  }
  std::sort(mpps.begin(), mpps.end());
  std::printf("median: %.2f Mpps (min %.2f, max %.2f, %zu samples)\n", mpps[mpps.size() / 2],
              mpps.front(), mpps.back(), mpps.size());
  return absl::OkStatus();
}

}  // namespace
}  // namespace dpcni::bench

int main(int argc, char** argv) {
  int eal_args = rte_eal_init(argc, argv);
  if (eal_args < 0) {
    std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  argv[eal_args] = argv[0];
  absl::ParseCommandLine(argc - eal_args, argv + eal_args);
  absl::Status status = dpcni::bench::Run();
  rte_eal_cleanup();
  if (!status.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
