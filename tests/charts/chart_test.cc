// The Helm chart (charts/dpcni), rendered by helm and read back: what a cluster gets from it. The
// agent.yaml it renders is parsed by the agent's own parser and the conflist's dpcni entry by the
// plugin's, so a key either side would refuse fails here rather than on a node. helm comes from
// DPCNI_K8S_BIN_DIR (tools/k8s/build.sh); without it every test fails, saying so.
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "cni/netconf.h"
#include "config/agent_config.h"
#include "tests/cni/testing/subprocess.h"

namespace dpcni {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr char kHelm[] = DPCNI_HELM;
constexpr char kChartDir[] = DPCNI_CHART_DIR;

class ChartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::access(kHelm, X_OK), 0)
        << "no helm at " << kHelm << ": build it with tools/k8s/build.sh "
        << "(tools/test.sh does), or point -DDPCNI_K8S_BIN_DIR at a directory holding helm";
    char home_template[] = "/tmp/dpcni-chart-test.XXXXXX";
    ASSERT_NE(::mkdtemp(home_template), nullptr);
    home_ = home_template;
  }
  void TearDown() override {
    if (!home_.empty()) {
      testing::RunProcess("/bin/rm", {"-rf", home_}, {}, "");
    }
  }

  // helm with a private home: no user's repositories or plugins change what it does.
  testing::ProcessResult Helm(std::vector<std::string> arguments) {
    return testing::RunProcess(kHelm, arguments,
                               {{"HOME", home_},
                                {"HELM_CONFIG_HOME", home_ + "/config"},
                                {"HELM_CACHE_HOME", home_ + "/cache"},
                                {"HELM_DATA_HOME", home_ + "/data"},
                                {"PATH", "/usr/bin:/bin"}},
                               "");
  }

  // `helm template` as charts/render.sh runs it, with --set assignments.
  testing::ProcessResult Template(const std::vector<std::string>& sets) {
    std::vector<std::string> arguments = {"template", "dpcni", kChartDir, "--namespace",
                                          "kube-system"};
    for (const std::string& set : sets) {
      arguments.push_back("--set");
      arguments.push_back(set);
    }
    return Helm(arguments);
  }

  // The rendered objects, by "Kind/name".
  std::map<std::string, YAML::Node> Render(const std::vector<std::string>& sets = {}) {
    testing::ProcessResult result = Template(sets);
    EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
    std::map<std::string, YAML::Node> objects;
    for (const YAML::Node& document : YAML::LoadAll(result.stdout_text)) {
      if (!document.IsMap()) continue;
      objects[document["kind"].as<std::string>() + "/" +
              document["metadata"]["name"].as<std::string>()] = document;
    }
    return objects;
  }

  std::string home_;
};

YAML::Node Container(const YAML::Node& daemonset, const std::string& name,
                     const char* list = "containers") {
  for (const YAML::Node& container : daemonset["spec"]["template"]["spec"][list]) {
    if (container["name"].as<std::string>() == name) return container;
  }
  ADD_FAILURE() << "no " << list << " entry named " << name;
  return YAML::Node();
}

std::vector<std::string> Strings(const YAML::Node& sequence) {
  std::vector<std::string> strings;
  for (const YAML::Node& item : sequence) strings.push_back(item.as<std::string>());
  return strings;
}

// hostPath volumes: name -> {path, type}.
std::map<std::string, std::pair<std::string, std::string>> HostPaths(const YAML::Node& daemonset) {
  std::map<std::string, std::pair<std::string, std::string>> paths;
  for (const YAML::Node& volume : daemonset["spec"]["template"]["spec"]["volumes"]) {
    if (volume["hostPath"]) {
      paths[volume["name"].as<std::string>()] = {volume["hostPath"]["path"].as<std::string>(),
                                                 volume["hostPath"]["type"].as<std::string>()};
    }
  }
  return paths;
}

// mountPath of the named volume in a container.
std::string MountPath(const YAML::Node& container, const std::string& volume) {
  for (const YAML::Node& mount : container["volumeMounts"]) {
    if (mount["name"].as<std::string>() == volume) return mount["mountPath"].as<std::string>();
  }
  return "";
}

// The agent's config as the agent reads it. The Node's pod CIDRs reach it from dpcni-k8s, never
// from the file: a parser that still requires the key gets the one a Node would send.
absl::StatusOr<dataplane::AgentConfig> ParseAsTheAgent(const std::string& agent_yaml) {
  absl::StatusOr<dataplane::AgentConfig> config = dataplane::ParseAgentConfig(agent_yaml);
  if (!config.ok() && config.status().message().find("pod_cidrs") != std::string::npos) {
    return dataplane::ParseAgentConfig(agent_yaml + "pod_cidrs: [10.244.1.0/24]\n");
  }
  return config;
}

// The conf libcni hands the first plugin of the list: the entry plus the list's name and version.
std::string FirstPluginConf(const nlohmann::json& conflist) {
  nlohmann::json conf = conflist["plugins"][0];
  conf["name"] = conflist["name"];
  conf["cniVersion"] = conflist["cniVersion"];
  return conf.dump();
}

TEST_F(ChartTest, RendersTheObjectsInTheReleaseNamespace) {
  std::map<std::string, YAML::Node> objects = Render();
  std::set<std::string> names;
  for (const auto& [name, object] : objects) {
    names.insert(name);
    const std::string kind = object["kind"].as<std::string>();
    if (kind != "ClusterRole" && kind != "ClusterRoleBinding") {
      EXPECT_EQ(object["metadata"]["namespace"].as<std::string>(), "kube-system") << name;
    }
  }
  EXPECT_THAT(names, UnorderedElementsAre("ServiceAccount/dpcni", "ConfigMap/dpcni",
                                          "ClusterRole/dpcni", "ClusterRoleBinding/dpcni",
                                          "Role/dpcni", "RoleBinding/dpcni", "DaemonSet/dpcni"));
}

TEST_F(ChartTest, AgentConfigIsWhatTheAgentAcceptsWithoutPodCidrs) {
  std::map<std::string, YAML::Node> objects = Render();
  const std::string agent_yaml = objects["ConfigMap/dpcni"]["data"]["agent.yaml"].as<std::string>();
  EXPECT_FALSE(YAML::Load(agent_yaml)["pod_cidrs"]) << agent_yaml;
  absl::StatusOr<dataplane::AgentConfig> config = ParseAsTheAgent(agent_yaml);
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << agent_yaml;
  EXPECT_EQ(config->socket_path, "/run/dpcni/dpcni.sock");
  EXPECT_EQ(config->state_dir, "/var/lib/dpcni");
  EXPECT_EQ(config->max_pods, 110u);
  EXPECT_EQ(config->backend, dataplane::PortBackend::kAuto);
  EXPECT_TRUE(config->masquerade);
  EXPECT_EQ(config->log_level, LogLevel::kInfo);
  EXPECT_FALSE(YAML::Load(agent_yaml)["cluster_cidrs"]);
  EXPECT_FALSE(YAML::Load(agent_yaml)["eal"]);
}

TEST_F(ChartTest, AgentConfigTakesTheValuesAndExtraConfig) {
  std::map<std::string, YAML::Node> objects = Render(
      {"clusterCIDRs={10.244.0.0/16}", "agent.backend=tap", "agent.maxPods=250",
       "agent.masquerade=false", "agent.metricsAddress=0.0.0.0:9464", "agent.ealMemoryMB=800",
       "agent.logLevel=debug", "agent.extraConfig.idle_sleep_max_us=0",
       "agent.extraConfig.eal.lcores=0-2", "agent.extraConfig.worker_lcores={1,2}"});
  const std::string agent_yaml = objects["ConfigMap/dpcni"]["data"]["agent.yaml"].as<std::string>();
  absl::StatusOr<dataplane::AgentConfig> config = ParseAsTheAgent(agent_yaml);
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << agent_yaml;
  EXPECT_THAT(config->cluster_cidrs, ElementsAre("10.244.0.0/16"));
  EXPECT_EQ(config->backend, dataplane::PortBackend::kTap);
  EXPECT_EQ(config->max_pods, 250u);
  EXPECT_FALSE(config->masquerade);
  EXPECT_EQ(config->metrics_address, "0.0.0.0:9464");
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  // eal from ealMemoryMB and from extraConfig, merged.
  EXPECT_EQ(config->eal.memory_mb, 800u);
  EXPECT_EQ(config->eal.lcores, "0-2");
  EXPECT_THAT(config->worker_lcores, ElementsAre(1u, 2u));
  EXPECT_EQ(config->idle_sleep_max_us, 0u);
  // The metrics port is declared, so that the scheduler sees it taken on the node.
  YAML::Node agent = Container(objects["DaemonSet/dpcni"], "agent");
  EXPECT_EQ(agent["ports"][0]["containerPort"].as<int>(), 9464);
}

// remote_nodes and pod_mtu as the values set them. Read as YAML: the keys are the contract of issue
// 11 (remote_nodes: {mode, vxlan_port, vni}); ParseAsTheAgent checks them once the agent reads
// them.
YAML::Node AgentYaml(std::map<std::string, YAML::Node>& objects) {
  return YAML::Load(objects["ConfigMap/dpcni"]["data"]["agent.yaml"].as<std::string>());
}

TEST_F(ChartTest, RemoteNodesAreOnAndThePodMtuLeavesRoomForVxlan) {
  std::map<std::string, YAML::Node> objects = Render();
  YAML::Node agent_yaml = AgentYaml(objects);
  EXPECT_EQ(agent_yaml["remote_nodes"]["mode"].as<std::string>(), "auto");
  EXPECT_EQ(agent_yaml["remote_nodes"]["vxlan_port"].as<int>(), 4789);
  EXPECT_EQ(agent_yaml["remote_nodes"]["vni"].as<int>(), 1);
  // auto may reach a node through VXLAN: 1500 less its 50-byte header.
  EXPECT_EQ(agent_yaml["pod_mtu"].as<int>(), 1450);
  EXPECT_THAT(Strings(Container(objects["DaemonSet/dpcni"], "k8s")["command"]),
              Not(::testing::Contains(HasSubstr("--remote-nodes"))));

  objects = Render({"remoteNodes.mode=vxlan", "remoteNodes.vxlanPort=8472", "remoteNodes.vni=42",
                    "mtu.node=9000", "agent.extraConfig.uplink.type=af_packet",
                    "agent.extraConfig.uplink.interface=eth1"});
  agent_yaml = AgentYaml(objects);
  EXPECT_EQ(agent_yaml["remote_nodes"]["mode"].as<std::string>(), "vxlan");
  EXPECT_EQ(agent_yaml["remote_nodes"]["vxlan_port"].as<int>(), 8472);
  EXPECT_EQ(agent_yaml["remote_nodes"]["vni"].as<int>(), 42);
  EXPECT_EQ(agent_yaml["pod_mtu"].as<int>(), 8950);
  EXPECT_EQ(agent_yaml["uplink"]["interface"].as<std::string>(), "eth1");

  // host-gw never adds a header: the pods get the node network's MTU.
  objects = Render({"remoteNodes.mode=host-gw", "agent.extraConfig.uplink.type=af_packet"});
  EXPECT_EQ(AgentYaml(objects)["pod_mtu"].as<int>(), 1500);
  // An explicit pod MTU wins.
  objects = Render({"mtu.pod=1400"});
  EXPECT_EQ(AgentYaml(objects)["pod_mtu"].as<int>(), 1400);
  // Without the node list there is no VXLAN, and dpcni-k8s is told not to watch every Node.
  objects = Render({"remoteNodes.enabled=false"});
  EXPECT_EQ(AgentYaml(objects)["pod_mtu"].as<int>(), 1500);
  EXPECT_THAT(Strings(Container(objects["DaemonSet/dpcni"], "k8s")["command"]),
              ::testing::Contains("--remote-nodes=false"));
}

TEST_F(ChartTest, ConflistIsVersion100WithThePluginAndPortmap) {
  std::map<std::string, YAML::Node> objects = Render();
  const std::string text =
      objects["ConfigMap/dpcni"]["data"]["10-dpcni.conflist"].as<std::string>();
  const nlohmann::json conflist = nlohmann::json::parse(text);
  EXPECT_EQ(conflist["cniVersion"], "1.0.0");
  EXPECT_EQ(conflist["name"], "dpcni");
  ASSERT_EQ(conflist["plugins"].size(), 2u) << text;
  EXPECT_EQ(conflist["plugins"][0]["type"], "dpcni");
  EXPECT_EQ(conflist["plugins"][1]["type"], "portmap");
  EXPECT_EQ(conflist["plugins"][1]["capabilities"]["portMappings"], true);
  absl::StatusOr<cni::NetConf> conf = cni::ParseNetConf(FirstPluginConf(conflist));
  ASSERT_TRUE(conf.ok()) << conf.status() << "\n" << text;
  // The plugin runs on the node and dials the node's path of the agent's socket.
  EXPECT_EQ(conf->agent_socket, "/run/dpcni/dpcni.sock");
}

TEST_F(ChartTest, HostPathsComeFromValuesAndTheConflistFollowsTheSocketDir) {
  std::map<std::string, YAML::Node> objects =
      Render({"hostPaths.socketDir=/var/run/dpcni-test/", "hostPaths.cniBinDir=/usr/lib/cni",
              "hostPaths.cniConfDir=/etc/cni/other", "hostPaths.netnsDir=/run/netns",
              "hostPaths.stateDir=/srv/dpcni", "cni.portmap=false", "cni.version=1.1.0",
              "cni.confName=05-dpcni.conflist"});
  const YAML::Node daemonset = objects["DaemonSet/dpcni"];
  auto paths = HostPaths(daemonset);
  EXPECT_EQ(paths["socket-dir"].first, "/var/run/dpcni-test/");
  EXPECT_EQ(paths["cni-bin"].first, "/usr/lib/cni");
  EXPECT_EQ(paths["cni-conf"].first, "/etc/cni/other");
  EXPECT_EQ(paths["netns-dir"].first, "/run/netns");
  EXPECT_EQ(paths["state-dir"].first, "/srv/dpcni");
  // The netns directory sits at the node's path inside the agent.
  EXPECT_EQ(MountPath(Container(daemonset, "agent"), "netns-dir"), "/run/netns");
  const YAML::Node data = objects["ConfigMap/dpcni"]["data"];
  ASSERT_TRUE(data["05-dpcni.conflist"]);
  const nlohmann::json conflist =
      nlohmann::json::parse(data["05-dpcni.conflist"].as<std::string>());
  EXPECT_EQ(conflist["cniVersion"], "1.1.0");
  ASSERT_EQ(conflist["plugins"].size(), 1u);
  absl::StatusOr<cni::NetConf> conf = cni::ParseNetConf(FirstPluginConf(conflist));
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(conf->agent_socket, "/var/run/dpcni-test/dpcni.sock");
  // dpcni-k8s copies the file of that name from the ConfigMap.
  EXPECT_THAT(Strings(Container(daemonset, "k8s")["command"]),
              ::testing::Contains("--cni-conf-name=05-dpcni.conflist"));
}

TEST_F(ChartTest, DaemonSetRunsOnEveryNodeOnTheHostNetwork) {
  const YAML::Node daemonset = Render()["DaemonSet/dpcni"];
  const YAML::Node pod = daemonset["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["hostNetwork"].as<bool>());
  EXPECT_EQ(pod["dnsPolicy"].as<std::string>(), "ClusterFirstWithHostNet");
  EXPECT_EQ(pod["priorityClassName"].as<std::string>(), "system-node-critical");
  ASSERT_EQ(pod["tolerations"].size(), 1u);
  EXPECT_EQ(pod["tolerations"][0]["operator"].as<std::string>(), "Exists");
  EXPECT_FALSE(pod["tolerations"][0]["key"]);
  EXPECT_EQ(daemonset["spec"]["updateStrategy"]["type"].as<std::string>(), "RollingUpdate");
  EXPECT_EQ(daemonset["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"].as<int>(), 1);
  EXPECT_EQ(pod["terminationGracePeriodSeconds"].as<int>(), 30);
  EXPECT_FALSE(pod["automountServiceAccountToken"].as<bool>());
  for (const YAML::Node& container : pod["containers"]) {
    EXPECT_EQ(container["image"].as<std::string>(),
              "dpcni.dev/dpcni:" +
                  daemonset["metadata"]["labels"]["app.kubernetes.io/version"].as<std::string>());
    EXPECT_EQ(container["imagePullPolicy"].as<std::string>(), "IfNotPresent");
  }
  // --set image.tag, as the cluster lane passes its git version.
  EXPECT_EQ(Container(Render({"image.tag=abc1234-dirty"})["DaemonSet/dpcni"], "agent")["image"]
                .as<std::string>(),
            "dpcni.dev/dpcni:abc1234-dirty");
  // A git short hash can be all digits: --set reads 8061649 as a number, which must still be the
  // tag (it rendered "%!s(int64=8061649)", an image name containerd refuses, and failed the lane).
  EXPECT_EQ(Container(Render({"image.tag=8061649"})["DaemonSet/dpcni"], "agent")["image"]
                .as<std::string>(),
            "dpcni.dev/dpcni:8061649");
  // `helm upgrade --reuse-values` hands that number back as a float, as JSON values are.
  testing::ProcessResult reused = Helm({"template", "dpcni", kChartDir, "--namespace",
                                        "kube-system", "--set-json", "image.tag=8061649"});
  ASSERT_EQ(reused.exit_code, 0) << reused.stderr_text;
  EXPECT_THAT(reused.stdout_text, HasSubstr("image: dpcni.dev/dpcni:8061649\n"));
}

TEST_F(ChartTest, InitContainerInstallsThePluginAtomically) {
  const YAML::Node daemonset = Render()["DaemonSet/dpcni"];
  const YAML::Node install = Container(daemonset, "install-plugin", "initContainers");
  const std::string bin = MountPath(install, "cni-bin");
  EXPECT_EQ(HostPaths(daemonset)["cni-bin"].first, "/opt/cni/bin");
  const std::string script = Strings(install["command"]).back();
  EXPECT_THAT(script, HasSubstr("cp /usr/libexec/dpcni/dpcni \"$tmp\""));
  EXPECT_THAT(script, HasSubstr("mv -f \"$tmp\" \"$dir/dpcni\""));
  EXPECT_THAT(script, HasSubstr("dir=" + bin));
  EXPECT_THAT(Strings(install["securityContext"]["capabilities"]["drop"]), ElementsAre("ALL"));
}

// The init container's script, run for real against a directory standing in for the node's.
TEST_F(ChartTest, InitContainerScriptReplacesThePluginByRename) {
  const YAML::Node install =
      Container(Render()["DaemonSet/dpcni"], "install-plugin", "initContainers");
  std::vector<std::string> command = Strings(install["command"]);
  ASSERT_EQ(command.size(), 3u);
  std::string script = command[2];
  const std::string bin = MountPath(install, "cni-bin");
  // Point the script's two paths at the test's directory.
  const std::string plugin_source = home_ + "/dpcni-new";
  for (auto [from, to] : {std::pair<std::string, std::string>{bin, home_ + "/bin"},
                          {"/usr/libexec/dpcni/dpcni", plugin_source}}) {
    for (size_t at = script.find(from); at != std::string::npos; at = script.find(from, at)) {
      script.replace(at, from.size(), to);
      at += to.size();
    }
  }
  ASSERT_EQ(::mkdir((home_ + "/bin").c_str(), 0755), 0);
  testing::RunProcess("/bin/sh",
                      {"-c", "echo new >" + plugin_source + "; echo old >" + home_ +
                                 "/bin/dpcni; ln " + home_ + "/bin/dpcni " + home_ + "/old-link"},
                      {{"PATH", "/usr/bin:/bin"}}, "");
  testing::ProcessResult result =
      testing::RunProcess(command[0], {command[1], script}, {{"PATH", "/usr/bin:/bin"}}, "");
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  testing::ProcessResult listing = testing::RunProcess(
      "/bin/sh",
      {"-c", "cd " + home_ + " && cat bin/dpcni old-link && stat -c %a bin/dpcni && ls -A bin"},
      {{"PATH", "/usr/bin:/bin"}}, "");
  // A new file took the name (the old inode, still linked elsewhere, kept its content: what a
  // runtime executing the old plugin at that moment holds), mode 0755, no temporary file left.
  EXPECT_EQ(listing.stdout_text, "new\nold\n755\ndpcni\n");
}

TEST_F(ChartTest, DpcniK8sGetsItsFlagsTheDownwardApiAndTheOnlyToken) {
  const YAML::Node daemonset = Render()["DaemonSet/dpcni"];
  const YAML::Node k8s = Container(daemonset, "k8s");
  EXPECT_THAT(
      Strings(k8s["command"]),
      ElementsAre("dpcni-k8s", "--agent-socket=/run/dpcni/dpcni.sock",
                  "--cni-conf-source=/etc/dpcni/10-dpcni.conflist",
                  "--cni-conf-dir=" + MountPath(k8s, "cni-conf"),
                  "--cni-conf-name=10-dpcni.conflist", "--cni-bin-dir=" + MountPath(k8s, "cni-bin"),
                  "--health-address=127.0.0.1:9467"));
  EXPECT_EQ(k8s["livenessProbe"]["httpGet"]["host"].as<std::string>(), "127.0.0.1");
  EXPECT_EQ(k8s["livenessProbe"]["httpGet"]["port"].as<int>(), 9467);
  EXPECT_EQ(k8s["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  const YAML::Node without_health = Container(
      Render({"k8s.healthPort=0", "k8s.uninstallRemovesPlugin=true"})["DaemonSet/dpcni"], "k8s");
  EXPECT_FALSE(without_health["livenessProbe"]);
  EXPECT_THAT(Strings(without_health["command"]), ::testing::Contains("--uninstall-remove-plugin"));
  EXPECT_THAT(Strings(without_health["command"]),
              Not(::testing::Contains(HasSubstr("--health-address"))));
  std::map<std::string, std::string> env;
  for (const YAML::Node& variable : k8s["env"]) {
    env[variable["name"].as<std::string>()] =
        variable["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>();
  }
  EXPECT_EQ(env, (std::map<std::string, std::string>{{"NODE_NAME", "spec.nodeName"},
                                                     {"POD_NAME", "metadata.name"},
                                                     {"POD_NAMESPACE", "metadata.namespace"}}));
  EXPECT_EQ(MountPath(k8s, "k8s-api-access"), "/var/run/secrets/kubernetes.io/serviceaccount");
  EXPECT_EQ(MountPath(Container(daemonset, "agent"), "k8s-api-access"), "");
  EXPECT_FALSE(k8s["securityContext"]["privileged"]);
  EXPECT_THAT(Strings(k8s["securityContext"]["capabilities"]["drop"]), ElementsAre("ALL"));
  EXPECT_FALSE(k8s["securityContext"]["allowPrivilegeEscalation"].as<bool>());

  const YAML::Node with_api = Container(
      Render({"k8s.apiServer.host=192.168.1.10", "k8s.apiServer.port=6443"})["DaemonSet/dpcni"],
      "k8s");
  std::map<std::string, std::string> values;
  for (const YAML::Node& variable : with_api["env"]) {
    if (variable["value"])
      values[variable["name"].as<std::string>()] = variable["value"].as<std::string>();
  }
  EXPECT_EQ(values, (std::map<std::string, std::string>{{"KUBERNETES_SERVICE_HOST", "192.168.1.10"},
                                                        {"KUBERNETES_SERVICE_PORT", "6443"}}));
}

TEST_F(ChartTest, AgentIsProbedThroughDpcnictl) {
  const YAML::Node agent = Container(Render()["DaemonSet/dpcni"], "agent");
  EXPECT_THAT(Strings(agent["command"]),
              ElementsAre("dpcni-agent", "--config=/etc/dpcni/agent.yaml"));
  for (const auto& [probe, check] : {std::pair<const char*, const char*>{"startupProbe", "live"},
                                     {"livenessProbe", "live"},
                                     {"readinessProbe", "ready"}}) {
    EXPECT_THAT(Strings(agent[probe]["exec"]["command"]),
                ElementsAre("dpcnictl", "--socket=/run/dpcni/dpcni.sock", "probe", check))
        << probe;
  }
  // Two minutes to start before liveness counts.
  EXPECT_EQ(agent["startupProbe"]["periodSeconds"].as<int>() *
                agent["startupProbe"]["failureThreshold"].as<int>(),
            120);
  EXPECT_FALSE(agent["resources"]["limits"]["cpu"]);
  EXPECT_TRUE(agent["resources"]["limits"]["memory"]);
}

TEST_F(ChartTest, AgentIsPrivilegedOrHasTheFourCapabilitiesAndTheTunDevice) {
  const YAML::Node privileged = Render()["DaemonSet/dpcni"];
  const YAML::Node agent = Container(privileged, "agent");
  EXPECT_TRUE(agent["securityContext"]["privileged"].as<bool>());
  EXPECT_EQ(HostPaths(privileged).count("dev-net-tun"), 0u);

  const YAML::Node unprivileged = Render({"agent.privileged=false"})["DaemonSet/dpcni"];
  const YAML::Node limited = Container(unprivileged, "agent");
  EXPECT_FALSE(limited["securityContext"]["privileged"]);
  EXPECT_THAT(Strings(limited["securityContext"]["capabilities"]["drop"]), ElementsAre("ALL"));
  EXPECT_THAT(Strings(limited["securityContext"]["capabilities"]["add"]),
              UnorderedElementsAre("NET_ADMIN", "SYS_ADMIN", "NET_RAW", "IPC_LOCK"));
  EXPECT_EQ(HostPaths(unprivileged)["dev-net-tun"],
            (std::pair<std::string, std::string>{"/dev/net/tun", "CharDevice"}));
  EXPECT_EQ(MountPath(limited, "dev-net-tun"), "/dev/net/tun");
  for (const YAML::Node& mount : limited["volumeMounts"]) {
    if (mount["name"].as<std::string>() == "netns-dir") {
      EXPECT_EQ(mount["mountPropagation"].as<std::string>(), "HostToContainer");
    }
  }
}

TEST_F(ChartTest, APciUplinkGetsTheNodesVfioDevicesAndItsAddressInTheConfig) {
  EXPECT_EQ(HostPaths(Render()["DaemonSet/dpcni"]).count("dev-vfio"), 0u);
  std::map<std::string, YAML::Node> objects = Render(
      {"agent.extraConfig.uplink.type=pci", "agent.extraConfig.uplink.pci_address=0000:03:00.0",
       "agent.extraConfig.uplink.address=192.168.1.10/24"});
  const YAML::Node daemonset = objects["DaemonSet/dpcni"];
  EXPECT_EQ(HostPaths(daemonset)["dev-vfio"],
            (std::pair<std::string, std::string>{"/dev/vfio", "Directory"}));
  EXPECT_EQ(MountPath(Container(daemonset, "agent"), "dev-vfio"), "/dev/vfio");
  const std::string agent_yaml = objects["ConfigMap/dpcni"]["data"]["agent.yaml"].as<std::string>();
  absl::StatusOr<dataplane::AgentConfig> config = ParseAsTheAgent(agent_yaml);
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << agent_yaml;
  EXPECT_EQ(config->uplink.type, dataplane::UplinkType::kPci);
  EXPECT_EQ(config->uplink.pci_address, "0000:03:00.0");
}

// One release for every node: each agent takes its node's uplink.per_node entry, by the Node name
// the downward API gives it.
TEST_F(ChartTest, OneReleaseServesEveryNodeThroughUplinkPerNode) {
  std::map<std::string, YAML::Node> objects =
      Render({"agent.extraConfig.uplink.type=pci",
              "agent.extraConfig.uplink.per_node.node-a.pci_address=0000:03:00.0",
              "agent.extraConfig.uplink.per_node.node-a.address=192.168.1.10/24",
              "agent.extraConfig.uplink.per_node.node-b.pci_address=0000:04:00.1",
              "agent.extraConfig.uplink.per_node.node-b.address=192.168.1.11/24"});
  const YAML::Node agent = Container(objects["DaemonSet/dpcni"], "agent");
  std::string node_name_from;
  for (const YAML::Node& variable : agent["env"]) {
    if (variable["name"].as<std::string>() == "NODE_NAME") {
      node_name_from = variable["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>();
    }
  }
  EXPECT_EQ(node_name_from, "spec.nodeName");
  const std::string agent_yaml = objects["ConfigMap/dpcni"]["data"]["agent.yaml"].as<std::string>();
  absl::StatusOr<dataplane::AgentConfig> config = ParseAsTheAgent(agent_yaml);
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << agent_yaml;
  dataplane::AgentConfig node_b = *config;
  ASSERT_TRUE(dataplane::SelectUplinkForNode(node_b, "node-b").ok()) << agent_yaml;
  EXPECT_EQ(node_b.uplink.pci_address, "0000:04:00.1");
  EXPECT_EQ(node_b.uplink.address, "192.168.1.11/24");

  // A pci uplink still needs an address for every node it names.
  testing::ProcessResult result =
      Template({"agent.extraConfig.uplink.type=pci",
                "agent.extraConfig.uplink.per_node.node-a.pci_address=0000:03:00.0",
                "agent.extraConfig.uplink.per_node.node-b.address=192.168.1.11/24"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("uplink.per_node.node-b has none"));
}

TEST_F(ChartTest, RbacIsReadOnlyAndNarrow) {
  std::map<std::string, YAML::Node> objects = Render();
  const YAML::Node cluster_rules = objects["ClusterRole/dpcni"]["rules"];
  ASSERT_EQ(cluster_rules.size(), 1u);
  EXPECT_THAT(Strings(cluster_rules[0]["resources"]), ElementsAre("nodes"));
  EXPECT_THAT(Strings(cluster_rules[0]["verbs"]), ElementsAre("list", "watch"));
  const YAML::Node rules = objects["Role/dpcni"]["rules"];
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_THAT(Strings(rules[0]["resources"]), ElementsAre("pods"));
  EXPECT_THAT(Strings(rules[0]["verbs"]), ElementsAre("get"));
  EXPECT_THAT(Strings(rules[1]["resources"]), ElementsAre("daemonsets"));
  EXPECT_THAT(Strings(rules[1]["resourceNames"]), ElementsAre("dpcni"));
  EXPECT_THAT(Strings(rules[1]["verbs"]), ElementsAre("get", "list", "watch"));
  for (const char* binding : {"ClusterRoleBinding/dpcni", "RoleBinding/dpcni"}) {
    EXPECT_EQ(objects[binding]["subjects"][0]["name"].as<std::string>(), "dpcni");
    EXPECT_EQ(objects[binding]["subjects"][0]["namespace"].as<std::string>(), "kube-system");
  }
  EXPECT_EQ(objects["DaemonSet/dpcni"]["spec"]["template"]["spec"]["serviceAccountName"]
                .as<std::string>(),
            "dpcni");
}

TEST_F(ChartTest, RefusesValuesThatCannotWork) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"agent.extraConfig.pod_cidrs={10.0.0.0/24}", "spec.podCIDRs"},
      {"agent.extraConfig.socket=/tmp/x.sock", "hostPaths.socketDir"},
      {"agent.extraConfig.cluster_cidrs={10.0.0.0/8}", "set clusterCIDRs instead"},
      {"cni.version=0.2.0", "is not one the plugin speaks"},
      {"hostPaths.cniBinDir=opt/cni/bin", "must be an absolute path"},
      {"k8s.apiServer.host=10.0.0.1", "k8s.apiServer.port is needed"},
      {"agent.extraConfig.pod_mtu=1400", "set mtu.pod (or mtu.node) instead"},
      {"agent.extraConfig.remote_nodes.mode=vxlan", "set remoteNodes.mode"},
      {"remoteNodes.mode=bgp", "is none of auto, host-gw, vxlan"},
      {"remoteNodes.mode=vxlan", "needs an uplink (agent.extraConfig.uplink)"},
      {"remoteNodes.vxlanPort=0", "outside 1..65535"},
      {"remoteNodes.vni=16777216", "outside 0..16777215"},
      {"mtu.node=600", "outside 576..9000"},
      {"mtu.pod=9001", "outside 576..9000"},
      {"agent.logLevel=verbose",
       "agent.logLevel \"verbose\" is none of error, warning, info, debug"},
  };
  for (const auto& [set, message] : cases) {
    testing::ProcessResult result = Template({set});
    EXPECT_NE(result.exit_code, 0) << set;
    EXPECT_THAT(result.stderr_text, HasSubstr(message)) << set;
  }
  testing::ProcessResult result =
      Template({"agent.privileged=false", "agent.extraConfig.uplink.type=pci",
                "agent.extraConfig.uplink.pci_address=0000:03:00.0"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("uplink.type=pci needs agent.privileged=true"));
  result = Template({"agent.extraConfig.uplink.type=pci"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("needs agent.extraConfig.uplink.pci_address"));
  result = Template({"agent.privileged=false", "agent.backend=vhost-net"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("needs agent.privileged=true"));
  // A tag a values file or --set-json gave as a number with a fraction has lost its digits.
  result = Helm({"template", "dpcni", kChartDir, "--set-json", "image.tag=1.10"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("image.tag 1.1 was read as a number: pass it with "
                                            "--set-string image.tag="));
  result = Template({"agent.backend=tap", "mtu.node=9000"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("which agent.backend tap cannot carry"));
}

TEST_F(ChartTest, LintsStrictlyWithoutWarnings) {
  const std::vector<std::vector<std::string>> value_sets = {
      {},
      {"agent.privileged=false", "agent.backend=tap"},
      {"clusterCIDRs={10.244.0.0/16}", "agent.metricsAddress=0.0.0.0:9464", "agent.ealMemoryMB=600",
       "k8s.apiServer.host=10.0.0.1", "k8s.apiServer.port=6443", "cni.portmap=false"},
      {"remoteNodes.mode=vxlan", "remoteNodes.vxlanPort=8472", "remoteNodes.vni=42",
       "mtu.node=9000", "agent.extraConfig.uplink.type=af_packet"},
      {"remoteNodes.enabled=false", "mtu.pod=1500"},
  };
  for (const std::vector<std::string>& sets : value_sets) {
    std::vector<std::string> arguments = {"lint", "--strict", kChartDir};
    for (const std::string& set : sets) {
      arguments.push_back("--set");
      arguments.push_back(set);
    }
    testing::ProcessResult result = Helm(arguments);
    EXPECT_EQ(result.exit_code, 0) << result.stdout_text << result.stderr_text;
    EXPECT_THAT(result.stdout_text, HasSubstr("1 chart(s) linted, 0 chart(s) failed"));
    EXPECT_THAT(result.stdout_text + result.stderr_text, Not(HasSubstr("[WARNING]")));
    EXPECT_THAT(result.stdout_text + result.stderr_text, Not(HasSubstr("[ERROR]")));
  }
}

}  // namespace
}  // namespace dpcni
