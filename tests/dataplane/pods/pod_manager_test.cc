// The pod lifecycle against fake ports, interfaces and engine: no root, no EAL. The fakes keep what
// DPDK and the kernel would: which devices exist under which port id, and which links.
#include "pods/pod_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/dataplane/testing/null_engine.h"

namespace dpcni::dataplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// DPDK as the pods see it: a new device takes the lowest free port id (an id freed by a removed
// device goes to the next one), device names are never reused, and removing a device that is gone
// fails like rte_eal_hotplug_remove does.
class FakePorts final : public PortFactory {
 public:
  absl::StatusOr<KernelPort> Create(PortBackend backend,
                                    const KernelPortRequest& request) override {
    if (on_create) on_create();
    std::lock_guard lock(mu_);
    requests.push_back(request);
    if (!fail_create.ok()) return fail_create;
    KernelPort port;
    port.backend = backend;
    while (ByPortId(port.port_id) != devices.end()) ++port.port_id;
    port.device_name = absl::StrCat("net_tap", next_index_++);
    devices[port.device_name] = port.port_id;
    return port;
  }
  absl::StatusOr<uint16_t> Find(const std::string& device_name) override {
    std::lock_guard lock(mu_);
    auto device = devices.find(device_name);
    if (device == devices.end())
      return absl::NotFoundError(absl::StrCat("no device ", device_name));
    return device->second;
  }
  absl::Status Remove(const KernelPort& port, const std::string&) override {
    std::lock_guard lock(mu_);
    removed.push_back(port.device_name);
    if (!fail_remove.ok()) return fail_remove;
    if (devices.erase(port.device_name) == 0) {
      return absl::InternalError(absl::StrCat("remove ", port.device_name, ": No such device"));
    }
    return absl::OkStatus();
  }

  std::map<std::string, uint16_t> devices;  // device name -> port id
  std::vector<std::string> removed;         // every Remove call, in order
  absl::Status fail_remove = absl::OkStatus();
  std::function<void()> on_create;  // runs at the start of every Create
  absl::Status fail_create = absl::OkStatus();
  std::vector<KernelPortRequest> requests;  // every Create call, in order

  // A new agent process: no devices, and device names count from 0 again.
  void NewProcess() {
    devices.clear();
    next_index_ = 0;
  }

 private:
  std::map<std::string, uint16_t>::iterator ByPortId(uint16_t port_id) {
    return std::find_if(devices.begin(), devices.end(),
                        [&](const auto& device) { return device.second == port_id; });
  }
  std::mutex mu_;  // PodManager runs the ADDs of different pods at once
  int next_index_ = 0;
};

// The kernel side: links by (netns, ifname), failures to inject into Configure and Delete.
class FakeInterfaces final : public PodInterfaces {
 public:
  absl::Status Configure(const std::string& netns_path, const InterfaceSpec& spec) override {
    std::lock_guard lock(mu_);
    if (!fail_configure.ok()) return fail_configure;
    links[{netns_path, spec.ifname}] = spec;
    return absl::OkStatus();
  }
  absl::StatusOr<InterfaceState> Read(const std::string& netns_path, const std::string& ifname,
                                      const std::string& gateway) override {
    std::lock_guard lock(mu_);
    auto link = links.find({netns_path, ifname});
    if (link == links.end()) return absl::NotFoundError(absl::StrCat("no interface ", ifname));
    InterfaceState state;
    state.up = true;
    state.mtu = link->second.mtu;
    state.addresses = link->second.addresses;
    for (const RouteSpec& route : link->second.routes) {
      if (route.via == gateway) state.routes_via_gateway.push_back(route.dst);
    }
    return state;
  }
  absl::StatusOr<bool> HasDefaultRoute(const std::string& netns_path) override {
    std::lock_guard lock(mu_);
    for (const auto& [key, spec] : links) {
      if (key.first != netns_path) continue;
      for (const RouteSpec& route : spec.routes) {
        if (route.dst == "0.0.0.0/0") return true;
      }
    }
    return false;
  }
  absl::Status Delete(const std::string& netns_path, const std::string& ifname) override {
    std::lock_guard lock(mu_);
    ++deletes;
    if (failing_deletes > 0) {
      --failing_deletes;
      return absl::InternalError(
          absl::StrCat("delete interface ", ifname, ": Device or resource busy"));
    }
    links.erase({netns_path, ifname});
    return absl::OkStatus();
  }

  std::map<std::pair<std::string, std::string>, InterfaceSpec> links;
  absl::Status fail_configure = absl::OkStatus();
  int failing_deletes = 0;
  int deletes = 0;

 private:
  std::mutex mu_;
};

class FakeEngine final : public testing::NullEngine {
 public:
  absl::Status AttachPod(const PodEndpoint& pod) override {
    std::lock_guard lock(mu_);
    if (!fail_attach.ok()) return fail_attach;
    if (!pods.emplace(pod.port_id, pod.name).second) {
      return absl::AlreadyExistsError(absl::StrCat("port ", pod.port_id, " is attached"));
    }
    ips[pod.port_id] = pod.ip;
    return absl::OkStatus();
  }
  absl::Status DetachPod(uint16_t port_id) override {
    std::lock_guard lock(mu_);
    if (pods.erase(port_id) == 0) {
      return absl::NotFoundError(absl::StrCat("port ", port_id, " is not a pod's"));
    }
    ips.erase(port_id);
    return absl::OkStatus();
  }

  std::map<uint16_t, std::string> pods;  // attached port id -> pod name
  std::map<uint16_t, uint32_t> ips;      // attached port id -> the source address it allows
  absl::Status fail_attach = absl::OkStatus();

 private:
  std::mutex mu_;
};

class PodManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("pod_manager_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    config_.backend = PortBackend::kTap;
    config_.max_pods = 8;
    auto ipam = Ipam::Open({"10.99.0.0/24"}, {}, (dir_ / "ipam.json").string());
    ASSERT_TRUE(ipam.ok()) << ipam.status();
    ipam_ = *std::move(ipam);
    store_ = std::make_unique<PodStore>((dir_ / "pods.json").string());
    pods_ = std::make_unique<PodManager>(config_, *ipam_, ports_, interfaces_, engine_, *store_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A pod's netns: the manager only needs the path to exist.
  std::string Netns(const std::string& name) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path).put('\n');
    return path;
  }
  AddPodParams Params(const std::string& name, const std::string& netns,
                      const std::string& ifname = "eth0") {
    AddPodParams params;
    params.pod.container_id = "ctr-" + name;
    params.pod.ifname = ifname;
    params.pod.netns_path = netns;
    params.pod.pod_namespace = "default";
    params.pod.pod_name = name;
    return params;
  }
  CheckPodParams Checking(const std::string& container_id, const std::string& ifname,
                          const std::string& netns) {
    CheckPodParams check;
    check.container_id = container_id;
    check.ifname = ifname;
    check.netns_path = netns;
    return check;
  }
  // The agent restarted over the same state dir with these pod CIDRs: a new IPAM and manager, the
  // engine and DPDK's devices empty again (device names count from 0 again), the links kept.
  void Restart(const std::vector<std::string>& cidrs = {"10.99.0.0/24"}) {
    pods_.reset();
    auto ipam = Ipam::Open(cidrs, {}, (dir_ / "ipam.json").string());
    ASSERT_TRUE(ipam.ok()) << ipam.status();
    ipam_ = *std::move(ipam);
    engine_.pods.clear();
    engine_.ips.clear();
    ports_.NewProcess();
    pods_ = std::make_unique<PodManager>(config_, *ipam_, ports_, interfaces_, engine_, *store_);
  }
  std::set<std::string> Owners() {
    std::vector<std::string> owners = ipam_->Owners();
    return {owners.begin(), owners.end()};
  }

  std::filesystem::path dir_;
  AgentConfig config_;
  std::unique_ptr<Ipam> ipam_;
  std::unique_ptr<PodStore> store_;
  FakePorts ports_;
  FakeInterfaces interfaces_;
  FakeEngine engine_;
  std::unique_ptr<PodManager> pods_;
};

// The defect of issue 13: DPDK's side went, the kernel step failed, and DPDK has since handed the
// freed port id to a newer pod. The retried DEL must leave that pod alone and finish.
TEST_F(PodManagerTest, RetriedDelAfterAFailedKernelStepFinishesAndSparesANewerPodsPort) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  interfaces_.failing_deletes = 1;
  absl::Status failed = pods_->Delete("ctr-a", "eth0", a->netns_path);
  EXPECT_THAT(std::string(failed.message()), HasSubstr("default/a"));
  EXPECT_THAT(std::string(failed.message()), HasSubstr("Device or resource busy"));
  EXPECT_FALSE(ports_.devices.contains(a->port.device_name));  // the DPDK side is gone already
  EXPECT_EQ(pods_->Count(), 1u);                               // the record stays for the retry

  auto b = pods_->Add(Params("b", Netns("b")));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->port.port_id, a->port.port_id) << "DPDK reuses the freed port id";
  ports_.removed.clear();

  absl::Status retried = pods_->Delete("ctr-a", "eth0", a->netns_path);
  EXPECT_TRUE(retried.ok()) << retried;
  EXPECT_THAT(engine_.pods,
              ElementsAre(std::pair<const uint16_t, std::string>(b->port.port_id, "default/b")));
  EXPECT_TRUE(ports_.devices.contains(b->port.device_name));
  EXPECT_THAT(ports_.removed, IsEmpty()) << "nothing left to remove on the DPDK side";
  EXPECT_FALSE(interfaces_.links.contains({a->netns_path, "eth0"}));
  EXPECT_EQ(Owners(), std::set<std::string>{b->Key()});  // a's address is free again
  ASSERT_EQ(pods_->List().size(), 1u);
  EXPECT_EQ(pods_->List()[0].Key(), b->Key());
  EXPECT_TRUE(pods_->Delete("ctr-a", "eth0", a->netns_path).ok());  // and again: still done
  EXPECT_EQ(engine_.pods.size(), 1u);
}

TEST_F(PodManagerTest, RetriedDelAfterAFailedDpdkStepRemovesTheDeviceThen) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  ports_.fail_remove = absl::InternalError("remove net_tap0: Resource busy");
  EXPECT_FALSE(pods_->Delete("ctr-a", "eth0", a->netns_path).ok());
  EXPECT_TRUE(engine_.pods.empty());
  EXPECT_EQ(Owners(), std::set<std::string>{a->Key()});  // nothing freed before every step is done

  ports_.fail_remove = absl::OkStatus();
  EXPECT_TRUE(pods_->Delete("ctr-a", "eth0", a->netns_path).ok());
  EXPECT_FALSE(ports_.devices.contains(a->port.device_name));
  EXPECT_FALSE(interfaces_.links.contains({a->netns_path, "eth0"}));
  EXPECT_THAT(Owners(), IsEmpty());
  EXPECT_EQ(pods_->Count(), 0u);
}

TEST_F(PodManagerTest, StepsAlreadyUndoneElsewhereCountAsDone) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  // The device and the link vanished behind the agent's back (a sandbox torn down, say).
  ports_.devices.erase(a->port.device_name);
  engine_.pods.clear();
  interfaces_.links.clear();
  EXPECT_TRUE(pods_->Delete("ctr-a", "eth0", "").ok());
  EXPECT_THAT(ports_.removed, IsEmpty());
  EXPECT_THAT(Owners(), IsEmpty());
  EXPECT_EQ(pods_->Count(), 0u);
}

// Crash consistency (the e2e side is tests/e2e/crash_points_test.cc): what ADD has on disk when it
// first touches DPDK or the kernel.
TEST_F(PodManagerTest, AddRecordsItsIntentBeforeMakingAPort) {
  std::optional<PodRecord> on_disk;
  ports_.on_create = [&] {
    auto saved = store_->Load();
    ASSERT_TRUE(saved.ok()) << saved.status();
    if (auto it = saved->find("ctr-a/eth0"); it != saved->end()) on_disk = it->second;
  };
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(on_disk.has_value()) << "no record on disk when the port was made";
  EXPECT_FALSE(on_disk->complete);
  ASSERT_EQ(on_disk->addresses.size(), 1u);
  EXPECT_EQ(on_disk->addresses[0].address, a->addresses[0].address);
  EXPECT_TRUE(a->complete);
  auto saved = store_->Load();
  ASSERT_TRUE(saved.ok());
  EXPECT_TRUE(saved->at("ctr-a/eth0").complete);
  EXPECT_EQ(pods_->List().size(), 1u);
}

TEST_F(PodManagerTest, AFailedAddLeavesNoIntentBehind) {
  engine_.pods[0] = "squatter";  // the first port id is taken in the engine: AttachPod fails
  EXPECT_FALSE(pods_->Add(Params("a", Netns("a"))).ok());
  auto saved = store_->Load();
  ASSERT_TRUE(saved.ok());
  EXPECT_THAT(*saved, IsEmpty());
  EXPECT_THAT(Owners(), IsEmpty());
}

TEST_F(PodManagerTest, RestoreUndoesAnAddTheAgentWasKilledIn) {
  const std::string netns = Netns("a");
  // As the agent left it when killed after making the pod's interface: the address taken, the
  // intent on disk, eth0 in the pod's netns, no DPDK port (it died with the process).
  auto added = pods_->Add(Params("a", netns));
  ASSERT_TRUE(added.ok()) << added.status();
  PodRecord unfinished = *added;
  unfinished.complete = false;
  ASSERT_TRUE(store_->Save({{unfinished.Key(), unfinished}}).ok());
  ports_.devices.clear();
  Restart({"10.99.0.0/24"});
  ASSERT_TRUE(interfaces_.links.contains({netns, "eth0"}));

  ASSERT_TRUE(pods_->Restore().ok());
  EXPECT_FALSE(interfaces_.links.contains({netns, "eth0"})) << "the half-made eth0 must go";
  EXPECT_THAT(Owners(), IsEmpty());
  EXPECT_THAT(pods_->List(), IsEmpty());
  EXPECT_TRUE(engine_.pods.empty());
  auto saved = store_->Load();
  ASSERT_TRUE(saved.ok());
  EXPECT_THAT(*saved, IsEmpty());
  // The runtime's retried ADD then makes the pod afresh.
  auto retried = pods_->Add(Params("a", netns));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(interfaces_.links.contains({netns, "eth0"}));
}

TEST_F(PodManagerTest, CheckFindsThePortByItsDeviceName) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  const CheckPodParams check = Checking("ctr-a", "eth0", a->netns_path);
  EXPECT_TRUE(pods_->Check(check).ok()) << pods_->Check(check);
  ports_.devices.erase(a->port.device_name);
  ports_.devices["net_tap99"] = a->port.port_id;  // its port id now names another device
  absl::Status broken = pods_->Check(check);
  EXPECT_TRUE(absl::IsFailedPrecondition(broken)) << broken;
  EXPECT_THAT(std::string(broken.message()), HasSubstr(a->port.device_name));
}

// Multus adds net1 beside eth0: only the first interface routes the pod's default.
TEST_F(PodManagerTest, OnlyThePodsFirstInterfaceGetsTheDefaultRoute) {
  const std::string netns = Netns("a");
  auto eth0 = pods_->Add(Params("a", netns));
  ASSERT_TRUE(eth0.ok()) << eth0.status();
  EXPECT_THAT(eth0->routes, ElementsAre("0.0.0.0/0"));
  auto net1 = pods_->Add(Params("a", netns, "net1"));
  ASSERT_TRUE(net1.ok()) << net1.status();
  EXPECT_THAT(net1->routes, IsEmpty());
  const InterfaceSpec& net1_spec = interfaces_.links.at({netns, "net1"});
  ASSERT_EQ(net1_spec.routes.size(), 1u);  // its own on-link route to the gateway, nothing else
  EXPECT_EQ(net1_spec.routes[0].dst, config_.gateway_ip + "/32");
  EXPECT_TRUE(net1_spec.routes[0].behind_existing);

  AddPodParams asked = Params("a", netns, "net2");
  asked.routes = std::vector<std::string>{"0.0.0.0/0", "10.98.0.0/16"};
  auto net2 = pods_->Add(asked);
  ASSERT_TRUE(net2.ok()) << net2.status();
  EXPECT_THAT(net2->routes, ElementsAre("0.0.0.0/0", "10.98.0.0/16"));
  EXPECT_TRUE(pods_->Check(Checking("ctr-a", "net2", netns)).ok());
}

TEST_F(PodManagerTest, BadRouteIsInvalidArgumentAndTakesNothing) {
  AddPodParams params = Params("a", Netns("a"));
  params.routes = std::vector<std::string>{"10.98.0.1/16"};
  auto refused = pods_->Add(params);
  EXPECT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("10.98.0.1/16"));
  EXPECT_THAT(Owners(), IsEmpty());
  EXPECT_TRUE(ports_.devices.empty());
  EXPECT_EQ(pods_->Count(), 0u);
}

// A lost ipam.json (or a crash between freeing an address and erasing its record): after a restart
// the restored pods hold their addresses again, and a new pod gets another one.
TEST_F(PodManagerTest, RestoreTakesRecordedAddressesBackFromALostIpamState) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  const std::string a_address = a->addresses.front().address;

  // The agent restarts with no ipam.json: a fresh IPAM, the same pod records.
  pods_.reset();
  std::filesystem::remove(dir_ / "ipam.json");
  auto ipam = Ipam::Open({"10.99.0.0/24"}, {}, (dir_ / "ipam.json").string());
  ASSERT_TRUE(ipam.ok()) << ipam.status();
  ipam_ = *std::move(ipam);
  engine_.pods.clear();
  pods_ = std::make_unique<PodManager>(config_, *ipam_, ports_, interfaces_, engine_, *store_);
  ASSERT_TRUE(pods_->Restore().ok());

  ASSERT_EQ(ipam_->AllocationsOf(a->Key()).size(), 1u);
  EXPECT_EQ(ipam_->AllocationsOf(a->Key()).front().address, a_address);
  auto b = pods_->Add(Params("b", Netns("b")));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(b->addresses.front().address, a_address);
}

// Several pod CIDRs are one pool set (issue 13): once the first is full a pod gets one address of
// the second, on its interface and attached to the engine as the source its spoof check allows.
TEST_F(PodManagerTest, APodOfTheSecondCidrHasOneAddressOnItsInterfaceAndInTheEngine) {
  Restart({"10.99.0.0/30", "10.99.1.0/30"});
  for (const std::string name : {"a", "b"}) {
    auto added = pods_->Add(Params(name, Netns(name)));
    ASSERT_TRUE(added.ok()) << added.status();
    ASSERT_EQ(added->addresses.size(), 1u) << name;
    EXPECT_EQ(added->addresses.front().pool, "10.99.0.0/30") << name;
  }
  auto c = pods_->Add(Params("c", Netns("c")));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->addresses.size(), 1u);
  EXPECT_EQ(c->addresses.front().address, "10.99.1.1");
  EXPECT_EQ(c->addresses.front().pool, "10.99.1.0/30");
  EXPECT_THAT(interfaces_.links.at({c->netns_path, "eth0"}).addresses, ElementsAre("10.99.1.1/32"));
  EXPECT_EQ(engine_.ips.at(c->port.port_id), ParseIpv4("10.99.1.1").value());
  EXPECT_TRUE(pods_->Check(Checking(c->container_id, "eth0", c->netns_path)).ok());
}

// A pod an agent before issue 13 added holds one address per CIDR. It restores with all of them:
// its interface keeps carrying them, so none may go to another pod before it is deleted; the
// engine goes on allowing the first, as that agent did. New pods get one address.
TEST_F(PodManagerTest, AnOlderAgentsPodWithAnAddressPerCidrRestoresWithAllOfThem) {
  PodRecord old = Params("old", Netns("old")).pod;
  old.mac = "02:00:0a:63:00:01";
  old.mtu = 1500;
  old.routes = {"0.0.0.0/0"};
  old.addresses = {{"10.99.0.1", "10.99.0.0/30"}, {"10.99.1.1", "10.99.1.0/30"}};
  ASSERT_TRUE(store_->Save({{old.Key(), old}}).ok());
  Restart({"10.99.0.0/30", "10.99.1.0/30"});  // ipam.json of that agent is lost: the records rule
  ASSERT_TRUE(pods_->Restore().ok());

  EXPECT_EQ(ipam_->AllocationsOf(old.Key()).size(), 2u);
  EXPECT_THAT(interfaces_.links.at({old.netns_path, "eth0"}).addresses,
              ElementsAre("10.99.0.1/32", "10.99.1.1/32"));
  ASSERT_EQ(engine_.ips.size(), 1u);
  EXPECT_EQ(engine_.ips.begin()->second, ParseIpv4("10.99.0.1").value());
  EXPECT_TRUE(pods_->Check(Checking(old.container_id, "eth0", old.netns_path)).ok());

  auto fresh = pods_->Add(Params("fresh", Netns("fresh")));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_EQ(fresh->addresses.size(), 1u);
  EXPECT_EQ(fresh->addresses.front().address, "10.99.0.2");

  ASSERT_TRUE(pods_->Delete(old.container_id, "eth0", old.netns_path).ok());
  EXPECT_TRUE(ipam_->AllocationsOf(old.Key()).empty()) << "both addresses went with it";
}

// Issue 13, defect 3: one failed re-attach after a restart must not cut a running pod off. The
// pod keeps its record, its address and its eth0 (the persistent tap), and is reported degraded.
TEST_F(PodManagerTest, FailedRestoreKeepsThePodItsAddressAndItsInterface) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  const std::string a_address = a->addresses.front().address;
  Restart();
  ports_.fail_create = absl::UnavailableError("create tap port net_tap9: Resource busy");
  const int deletes_before = interfaces_.deletes;
  const size_t restore_request = ports_.requests.size();
  ASSERT_TRUE(pods_->Restore().ok());

  EXPECT_EQ(interfaces_.deletes, deletes_before) << "the running pod's eth0 was deleted";
  EXPECT_TRUE(interfaces_.links.contains({a->netns_path, "eth0"}));
  ASSERT_EQ(pods_->Count(), 1u);
  EXPECT_EQ(Owners(), std::set<std::string>{a->Key()});
  ports_.fail_create = absl::OkStatus();
  auto b = pods_->Add(Params("b", Netns("b")));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(b->addresses.front().address, a_address) << "a's address went to another pod";

  ASSERT_GT(ports_.requests.size(), restore_request);
  EXPECT_TRUE(ports_.requests[restore_request].keep_interface) << "a failed Create deletes eth0";
  EXPECT_FALSE(ports_.requests.back().keep_interface) << "b's ADD makes its interface";
  EXPECT_EQ(pods_->DegradedCount(), 1u);
  std::vector<PodRecord> listed = pods_->List();
  auto listed_a = std::find_if(listed.begin(), listed.end(),
                               [&](const PodRecord& r) { return r.Key() == a->Key(); });
  ASSERT_NE(listed_a, listed.end());
  EXPECT_TRUE(listed_a->degraded());
  EXPECT_THAT(listed_a->degraded_reason, HasSubstr("Resource busy"));
  EXPECT_EQ(listed_a->attach_attempts, 1u);
  absl::Status checked = pods_->Check(Checking("ctr-a", "eth0", a->netns_path));
  EXPECT_TRUE(absl::IsFailedPrecondition(checked)) << checked;
  EXPECT_THAT(std::string(checked.message()), HasSubstr("degraded"));
  EXPECT_THAT(std::string(checked.message()), HasSubstr("Resource busy"));
}

// The background retry: nothing before the pod's retry is due, a doubling wait while the fault
// stays, and once it is gone the pod is attached again and no longer degraded.
TEST_F(PodManagerTest, RetryDegradedReattachesOnceTheFaultIsGone) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(pods_->RetryDegraded(absl::Now()), absl::InfiniteDuration()) << "nothing degraded";
  Restart();
  ports_.fail_create = absl::UnavailableError("vdev busy");
  const absl::Time restored = absl::Now();
  ASSERT_TRUE(pods_->Restore().ok());
  ASSERT_EQ(pods_->DegradedCount(), 1u);
  const size_t creates = ports_.requests.size();

  absl::Duration wait = pods_->RetryDegraded(absl::Now());
  EXPECT_GT(wait, absl::ZeroDuration());
  EXPECT_LE(wait, absl::Seconds(1));
  EXPECT_EQ(ports_.requests.size(), creates) << "retried before it was due";

  const absl::Time later = restored + absl::Seconds(5);
  wait = pods_->RetryDegraded(later);  // due, fails again: the wait doubles
  EXPECT_EQ(ports_.requests.size(), creates + 1);
  EXPECT_EQ(wait, absl::Seconds(2));
  EXPECT_EQ(pods_->List().front().attach_attempts, 2u);
  EXPECT_TRUE(interfaces_.links.contains({a->netns_path, "eth0"}));

  ports_.fail_create = absl::OkStatus();
  wait = pods_->RetryDegraded(later + absl::Seconds(2));
  EXPECT_EQ(wait, absl::InfiniteDuration());
  EXPECT_EQ(pods_->DegradedCount(), 0u);
  const PodRecord healed = pods_->List().front();
  EXPECT_FALSE(healed.degraded());
  EXPECT_EQ(healed.attach_attempts, 0u);
  EXPECT_EQ(healed.addresses.front().address, a->addresses.front().address);
  EXPECT_THAT(engine_.pods, ElementsAre(std::pair<const uint16_t, std::string>(healed.port.port_id,
                                                                               "default/a")));
  EXPECT_EQ(ports_.devices.size(), 1u);
  EXPECT_TRUE(pods_->Check(Checking("ctr-a", "eth0", a->netns_path)).ok());
}

// The waits double from 1 s and stop growing at 30 s.
TEST_F(PodManagerTest, RetryDegradedBacksOffUpToThirtySeconds) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  Restart();
  ports_.fail_create = absl::UnavailableError("vdev busy");
  ASSERT_TRUE(pods_->Restore().ok());
  absl::Time now = absl::Now() + absl::Seconds(1);
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 7; ++i) {
    waits.push_back(pods_->RetryDegraded(now));
    now += waits.back();
  }
  EXPECT_THAT(waits,
              ElementsAre(absl::Seconds(2), absl::Seconds(4), absl::Seconds(8), absl::Seconds(16),
                          absl::Seconds(30), absl::Seconds(30), absl::Seconds(30)));
}

// DEL of a degraded pod deletes its interface and frees its address. Its recorded device name was
// the earlier process's, which this process has given to another pod's port: that port stays.
TEST_F(PodManagerTest, DelOfADegradedPodFreesItsAddressAndSparesOtherPorts) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  Restart();
  ports_.fail_create = absl::UnavailableError("vdev busy");
  ASSERT_TRUE(pods_->Restore().ok());
  ports_.fail_create = absl::OkStatus();
  auto b = pods_->Add(Params("b", Netns("b")));
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->port.device_name, a->port.device_name) << "the new process reuses the name";

  EXPECT_TRUE(pods_->Delete("ctr-a", "eth0", a->netns_path).ok());
  EXPECT_TRUE(ports_.devices.contains(b->port.device_name));
  EXPECT_EQ(engine_.pods.size(), 1u);
  EXPECT_FALSE(interfaces_.links.contains({a->netns_path, "eth0"}));
  EXPECT_EQ(Owners(), std::set<std::string>{b->Key()});
  EXPECT_EQ(pods_->DegradedCount(), 0u);
  EXPECT_EQ(pods_->RetryDegraded(absl::InfiniteFuture()), absl::InfiniteDuration());
  EXPECT_EQ(pods_->Count(), 1u);
}

// The runtime retries ADD for a degraded pod: no second port while the fault stays, the pod's own
// port once it is gone.
TEST_F(PodManagerTest, AddRetriedForADegradedPodReattachesItWithoutASecondPort) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  Restart();
  ports_.fail_create = absl::UnavailableError("vdev busy");
  ASSERT_TRUE(pods_->Restore().ok());
  auto refused = pods_->Add(Params("a", a->netns_path));
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("degraded"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("vdev busy"));
  EXPECT_TRUE(ports_.devices.empty());

  ports_.fail_create = absl::OkStatus();
  auto added = pods_->Add(Params("a", a->netns_path));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_FALSE(added->degraded());
  EXPECT_EQ(added->addresses.front().address, a->addresses.front().address);
  EXPECT_EQ(ports_.devices.size(), 1u);
  auto again = pods_->Add(Params("a", a->netns_path));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ports_.devices.size(), 1u);
  EXPECT_EQ(pods_->DegradedCount(), 0u);
}

// The DPDK port came up but attaching it to the engine failed: the attempt removes the port it made
// and nothing else.
TEST_F(PodManagerTest, FailedRestoreAfterThePortCameUpRemovesOnlyThatPort) {
  auto a = pods_->Add(Params("a", Netns("a")));
  ASSERT_TRUE(a.ok()) << a.status();
  Restart();
  engine_.fail_attach = absl::ResourceExhaustedError("no room for port 0 in the engine");
  const int deletes_before = interfaces_.deletes;
  ASSERT_TRUE(pods_->Restore().ok());
  EXPECT_EQ(interfaces_.deletes, deletes_before) << "the running pod's eth0 was deleted";
  EXPECT_TRUE(interfaces_.links.contains({a->netns_path, "eth0"}));
  EXPECT_TRUE(ports_.devices.empty()) << "the attempt left its DPDK port behind";
  EXPECT_EQ(pods_->Count(), 1u);
  EXPECT_EQ(Owners(), std::set<std::string>{a->Key()});
}

// GC is best effort: one stale pod whose teardown fails does not keep the others, or the orphaned
// addresses, from being collected; the error names it, and the next GC finishes it.
TEST_F(PodManagerTest, GarbageCollectGoesOnPastAFailureAndNamesIt) {
  for (const std::string name : {"a", "b", "c"}) {
    auto added = pods_->Add(Params(name, Netns(name)));
    ASSERT_TRUE(added.ok()) << added.status();
  }
  interfaces_.failing_deletes = 1;  // the first stale pod's kernel step fails once
  auto collected = pods_->GarbageCollect("", {});
  ASSERT_FALSE(collected.ok());
  EXPECT_THAT(std::string(collected.status().message()), HasSubstr("removed 2 of 3"));
  EXPECT_THAT(std::string(collected.status().message()), HasSubstr("default/a"));
  EXPECT_EQ(pods_->Count(), 1u) << "b and c went despite a";
  EXPECT_EQ(Owners().size(), 1u) << "and so did their addresses";

  auto again = pods_->GarbageCollect("", {});
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().pod_name, "a");
  EXPECT_EQ(pods_->Count(), 0u);
  EXPECT_THAT(Owners(), IsEmpty());
}

// An ADD that fails at any step leaves nothing of the pod: no DPDK port, no interface, no engine
// entry, no address, no record on disk, and no hold on the node's pod limit. The runtime's retry
// then succeeds. (Allocation itself fails only on an exhausted pool or a bad requested address:
// the IPAM tests and the e2e bad-input corpus cover those.)
TEST_F(PodManagerTest, AnAddFailingAtAnyStepLeavesNothingAndItsRetrySucceeds) {
  const std::filesystem::path state = dir_ / "pods.json";
  // pods.json made a non-empty directory: the atomic rename onto it fails.
  auto block_state = [&] {
    std::filesystem::remove_all(state);
    std::filesystem::create_directories(state / "blocked");
  };
  struct Step {
    std::string name;
    std::function<void()> inject;
    std::string error;  // what the ADD's error names
  };
  const std::vector<Step> steps = {
      {"save the intent", block_state, "pods.json"},
      {"create the port",
       [&] { ports_.fail_create = absl::UnavailableError("hotplug net_tap9: no memory"); },
       "hotplug net_tap9"},
      {"configure the interface",
       [&] { interfaces_.fail_configure = absl::InternalError("RTM_NEWADDR: File exists"); },
       "configure eth0"},
      {"attach to the engine",
       [&] { engine_.fail_attach = absl::ResourceExhaustedError("engine: no free port slot"); },
       "no free port slot"},
      {"save the record",
       [&] { ports_.on_create = [&] { block_state(); }; },  // after the intent was saved
       "pods.json"},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    const std::string netns = Netns("pod");
    step.inject();
    auto failed = pods_->Add(Params("pod", netns));
    ASSERT_FALSE(failed.ok());
    EXPECT_THAT(std::string(failed.status().message()), HasSubstr(step.error));

    EXPECT_THAT(ports_.devices, IsEmpty()) << "a DPDK port was left";
    EXPECT_FALSE(interfaces_.links.contains({netns, "eth0"})) << "eth0 was left in the pod";
    EXPECT_THAT(engine_.pods, IsEmpty()) << "the engine still has the pod";
    EXPECT_THAT(Owners(), IsEmpty()) << "the address was not released";
    EXPECT_THAT(pods_->List(), IsEmpty());

    // The fault goes, as a transient one does, and the runtime retries.
    ports_.on_create = nullptr;
    ports_.fail_create = absl::OkStatus();
    interfaces_.fail_configure = absl::OkStatus();
    engine_.fail_attach = absl::OkStatus();
    std::filesystem::remove_all(state);
    auto saved = store_->Load();
    ASSERT_TRUE(saved.ok()) << saved.status();
    EXPECT_THAT(*saved, IsEmpty()) << "a record of the failed ADD is on disk";

    auto retried = pods_->Add(Params("pod", netns));
    ASSERT_TRUE(retried.ok()) << retried.status();
    EXPECT_EQ(ports_.devices.size(), 1u);
    EXPECT_TRUE(interfaces_.links.contains({netns, "eth0"}));
    EXPECT_EQ(engine_.pods.size(), 1u);
    saved = store_->Load();
    ASSERT_TRUE(saved.ok()) << saved.status();
    ASSERT_EQ(saved->size(), 1u);
    EXPECT_TRUE(saved->begin()->second.complete);
    ASSERT_TRUE(pods_->Delete(retried->container_id, "eth0", netns).ok());
  }
  // No failed ADD still counts against max_pods (8 here).
  for (int i = 0; i < 8; ++i) {
    const std::string name = absl::StrCat("full", i);
    auto added = pods_->Add(Params(name, Netns(name)));
    ASSERT_TRUE(added.ok()) << name << ": " << added.status();
  }
}

TEST_F(PodManagerTest, ARetriedAddAnswersTheSamePodAndMakesNothingMore) {
  const std::string netns = Netns("a");
  auto first = pods_->Add(Params("a", netns));
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = pods_->Add(Params("a", netns));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->addresses[0].address, first->addresses[0].address);
  EXPECT_EQ(again->mac, first->mac);
  EXPECT_EQ(again->port.device_name, first->port.device_name);
  EXPECT_EQ(ports_.requests.size(), 1u) << "the retry made a second port";
  EXPECT_EQ(Owners().size(), 1u);
  EXPECT_EQ(pods_->Count(), 1u);
}

// Kubelet starts pods in parallel. At the limit, exactly max_pods ADDs win, each with its own
// address and port, and the rest are refused as RESOURCE_EXHAUSTED (the plugin's "try again"),
// leaving nothing. The slow port creation keeps the ADDs in flight together.
TEST_F(PodManagerTest, ConcurrentAddsAtTheLimitGetMaxPodsDistinctPodsAndRefuseTheRest) {
  ports_.on_create = [] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); };
  constexpr int kAdds = 20;  // max_pods is 8
  std::vector<std::string> netns;
  for (int i = 0; i < kAdds; ++i) netns.push_back(Netns(absl::StrCat("p", i)));
  std::vector<absl::StatusOr<PodRecord>> results(kAdds, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kAdds; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = pods_->Add(Params(absl::StrCat("p", i), netns[i])); });
  }
  for (std::thread& thread : threads) thread.join();

  std::set<std::string> addresses;
  int refused = 0;
  for (const auto& result : results) {
    if (result.ok()) {
      addresses.insert(result->addresses[0].address);
    } else {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted) << result.status();
      EXPECT_THAT(std::string(result.status().message()), HasSubstr("max_pods 8"));
      ++refused;
    }
  }
  EXPECT_EQ(addresses.size(), 8u) << "max_pods ADDs win, with distinct addresses";
  EXPECT_EQ(refused, kAdds - 8);
  EXPECT_EQ(ports_.devices.size(), 8u);
  EXPECT_EQ(engine_.pods.size(), 8u);
  EXPECT_EQ(Owners().size(), 8u);
  EXPECT_EQ(pods_->Count(), 8u);
  auto saved = store_->Load();
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->size(), 8u);
}

}  // namespace
}  // namespace dpcni::dataplane
