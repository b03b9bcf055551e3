// An LD_PRELOAD library that gives other DPDK programs (dpdk-testpmd, DPDK's l3fwd example) the
// ports engine_bench gives the engine: net_null ports whose every received mbuf carries a valid
// 64-byte IPv4/UDP frame, written into it by an Rx callback at the same cost as engine_bench's
// (one 64-byte copy and the two lengths per packet). net_null alone hands out mbufs holding
// whatever they held before, which any router drops; with these ports a router from DPDK itself
// can be measured next to the engine, each paying the same per-packet cost to be fed.
//
// It takes over rte_eth_dev_start: before the real one starts a port, an Rx callback is put first
// on the port's queue 0, ahead of any the program adds (l3fwd's software packet-type parser). The
// frame on port P goes from 198.18.P.2 to 198.18.(1-P).1, which l3fwd's default routes send out of
// port 1-P, so ports 0 and 1 forward to each other.
//
// FRAMED_PORTS_SAMPLES=N: a thread prints the packets transmitted over all ports in each of N
// seconds, "framed_ports sample K: R Mpps", after FRAMED_PORTS_WARMUP seconds (default 2), counted
// from the first port's start. Then the program goes on until it is stopped.
//
// It calls DPDK only through the program's own libraries: it is built against DPDK's headers and
// linked against none, so it works in a program linked with another build of the same DPDK
// release (the struct layouts it uses, rte_mbuf's and rte_eth_stats', are the release's).
#include <dlfcn.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "bench/engine/udp_frame.h"

namespace {

using dpcni::bench::kFrameSize;
using dpcni::bench::WriteUdpFrame;

constexpr uint16_t kMaxPorts = 2;

std::array<std::array<uint8_t, kFrameSize>, kMaxPorts> frames{};

void BuildFrame(uint16_t port, std::array<uint8_t, kFrameSize>& frame) {
  const auto last = static_cast<uint8_t>(port);
  WriteUdpFrame(frame.data(), {.src_mac = {{0x02, 0x00, 0x00, 0x00, 0x10, last}},
                               .dst_mac = {{0x02, 0x00, 0x00, 0x00, 0x20, last}},
                               .src_ip = RTE_IPV4(198, 18, port, 2),
                               .dst_ip = RTE_IPV4(198, 18, 1 - port, 1),
                               .src_port = 9,
                               .dst_port = 9});
}

uint16_t WriteFrames(uint16_t, uint16_t, rte_mbuf** packets, uint16_t count, uint16_t,
                     void* frame) {
  for (uint16_t i = 0; i < count; ++i) {
    std::memcpy(rte_pktmbuf_mtod(packets[i], void*), frame, kFrameSize);
    packets[i]->data_len = kFrameSize;
    packets[i]->pkt_len = kFrameSize;
  }
  return count;
}

uint64_t Transmitted() {
  uint64_t packets = 0;
  rte_eth_stats stats;
  for (uint16_t port = 0; port < kMaxPorts; ++port) {
    if (rte_eth_stats_get(port, &stats) == 0) packets += stats.opackets;
  }
  return packets;
}

int EnvOr(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : fallback;
}

void Sample(int samples, int warmup) {
  std::this_thread::sleep_for(std::chrono::seconds(warmup));
  uint64_t last = Transmitted();
  auto then = std::chrono::steady_clock::now();
  for (int k = 1; k <= samples; ++k) {
    std::this_thread::sleep_until(then + std::chrono::seconds(1));
    const uint64_t now_packets = Transmitted();
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - then).count();
    std::fprintf(stderr, "framed_ports sample %d: %.2f Mpps\n", k,
                 static_cast<double>(now_packets - last) / seconds / 1e6);
    last = now_packets;
    then = now;
  }
}

// The DPDK function `name` that this library hides, from the next object defining it (ethdev).
template <typename Function>
Function* Real(const char* name) {
  auto* real = reinterpret_cast<Function*>(dlsym(RTLD_NEXT, name));
  if (real == nullptr) std::fprintf(stderr, "framed_ports: no %s to wrap\n", name);
  return real;
}

// The port's offload capabilities; every bit when they cannot be read, which leaves a request as
// it was.
rte_eth_dev_info Offers(uint16_t port_id) {
  rte_eth_dev_info info{};
  if (rte_eth_dev_info_get(port_id, &info) != 0) {
    info.rx_offload_capa = info.tx_offload_capa = info.flow_type_rss_offloads = ~uint64_t{0};
  }
  return info;
}

}  // namespace

// l3fwd asks every port for Rx checksum offloads, which net_null lacks (its offload capabilities
// are none), and would not start: offloads a port lacks are dropped from its requests here. l3fwd
// never reads the checksum flags on its forwarding path, so what it does per packet is unchanged.
extern "C" int rte_eth_dev_configure(uint16_t port_id, uint16_t rx_queues, uint16_t tx_queues,
                                     const rte_eth_conf* conf) {
  static auto* const real = Real<decltype(rte_eth_dev_configure)>("rte_eth_dev_configure");
  if (real == nullptr) return -ENOSYS;
  if (conf == nullptr) return real(port_id, rx_queues, tx_queues, conf);
  const rte_eth_dev_info offers = Offers(port_id);
  rte_eth_conf offered = *conf;
  offered.rxmode.offloads &= offers.rx_offload_capa;
  offered.txmode.offloads &= offers.tx_offload_capa;
  offered.rx_adv_conf.rss_conf.rss_hf &= offers.flow_type_rss_offloads;
  return real(port_id, rx_queues, tx_queues, &offered);
}

// The same for the queues, which l3fwd sets up with the offloads of its own request.
extern "C" int rte_eth_rx_queue_setup(uint16_t port_id, uint16_t queue, uint16_t descriptors,
                                      unsigned int socket, const rte_eth_rxconf* conf,
                                      rte_mempool* pool) {
  static auto* const real = Real<decltype(rte_eth_rx_queue_setup)>("rte_eth_rx_queue_setup");
  if (real == nullptr) return -ENOSYS;
  if (conf == nullptr) return real(port_id, queue, descriptors, socket, conf, pool);
  rte_eth_rxconf offered = *conf;
  offered.offloads &= Offers(port_id).rx_offload_capa;
  return real(port_id, queue, descriptors, socket, &offered, pool);
}

extern "C" int rte_eth_tx_queue_setup(uint16_t port_id, uint16_t queue, uint16_t descriptors,
                                      unsigned int socket, const rte_eth_txconf* conf) {
  static auto* const real = Real<decltype(rte_eth_tx_queue_setup)>("rte_eth_tx_queue_setup");
  if (real == nullptr) return -ENOSYS;
  if (conf == nullptr) return real(port_id, queue, descriptors, socket, conf);
  rte_eth_txconf offered = *conf;
  offered.offloads &= Offers(port_id).tx_offload_capa;
  return real(port_id, queue, descriptors, socket, &offered);
}

extern "C" int rte_eth_dev_start(uint16_t port_id) {
  static auto* const real_start = Real<decltype(rte_eth_dev_start)>("rte_eth_dev_start");
  static bool sampling = false;
  if (real_start == nullptr) return -ENOSYS;
  if (port_id >= kMaxPorts) {
    std::fprintf(stderr, "framed_ports: port %u: only ports 0 and 1 are framed\n", port_id);
    return -EINVAL;
  }
  BuildFrame(port_id, frames[port_id]);
  if (rte_eth_add_first_rx_callback(port_id, 0, &WriteFrames, frames[port_id].data()) == nullptr) {
    std::fprintf(stderr, "framed_ports: no Rx callback on port %u: %s\n", port_id,
                 rte_strerror(rte_errno));
    return -rte_errno;
  }
  const int samples = EnvOr("FRAMED_PORTS_SAMPLES", 0);
  if (samples > 0 && !sampling) {
    sampling = true;
    std::thread(Sample, samples, EnvOr("FRAMED_PORTS_WARMUP", 2)).detach();
  }
  return real_start(port_id);
}
