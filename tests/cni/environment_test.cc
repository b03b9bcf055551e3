#include "cni/environment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/cni_error.h"

namespace dpcni::cni {
namespace {

using ::testing::HasSubstr;

EnvironmentVariables AddVariables() {
  return {
      {"CNI_COMMAND", "ADD"},
      {"CNI_CONTAINERID", "3f2a9c"},
      {"CNI_NETNS", "/var/run/netns/cni-1234"},
      {"CNI_IFNAME", "eth0"},
      {"CNI_PATH", "/opt/cni/bin"},
      {"CNI_ARGS",
       "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
       "K8S_POD_INFRA_CONTAINER_ID=3f2a9c;K8S_POD_UID=8d1e-77"},
  };
}

// Asserts that `result` failed with CNI error 4 and that its message names `variable`.
template <typename T>
void ExpectInvalidVariable(const absl::StatusOr<T>& result, const std::string& variable) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(CniErrorCodeOf(result.status()), ErrorCode::kInvalidEnvironmentVariables);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(variable));
}

TEST(ParseEnvironment, ReadsEveryVariableOfAnAdd) {
  absl::StatusOr<Environment> environment = ParseEnvironment(AddVariables());
  ASSERT_TRUE(environment.ok()) << environment.status();
  EXPECT_EQ(environment->verb, Verb::kAdd);
  EXPECT_EQ(environment->container_id, "3f2a9c");
  EXPECT_EQ(environment->netns, "/var/run/netns/cni-1234");
  EXPECT_EQ(environment->ifname, "eth0");
  EXPECT_EQ(environment->pod.namespace_name, "default");
  EXPECT_EQ(environment->pod.name, "web-0");
  EXPECT_EQ(environment->pod.infra_container_id, "3f2a9c");
  EXPECT_EQ(environment->pod.uid, "8d1e-77");
}

TEST(ParseEnvironment, ReadsEachVerbName) {
  for (auto [name, verb] : {std::pair{"ADD", Verb::kAdd}, std::pair{"DEL", Verb::kDel},
                            std::pair{"CHECK", Verb::kCheck}, std::pair{"STATUS", Verb::kStatus},
                            std::pair{"GC", Verb::kGc}, std::pair{"VERSION", Verb::kVersion}}) {
    EnvironmentVariables variables = AddVariables();
    variables["CNI_COMMAND"] = name;
    absl::StatusOr<Environment> environment = ParseEnvironment(variables);
    ASSERT_TRUE(environment.ok()) << name << ": " << environment.status();
    EXPECT_EQ(environment->verb, verb) << name;
    EXPECT_EQ(VerbName(verb), name);
  }
}

TEST(ParseEnvironment, MissingOrUnknownCommandIsError4) {
  ExpectInvalidVariable(ParseEnvironment({}), "CNI_COMMAND");
  ExpectInvalidVariable(ParseEnvironment({{"CNI_COMMAND", "ATTACH"}}), "CNI_COMMAND");
  ExpectInvalidVariable(ParseEnvironment({{"CNI_COMMAND", "add"}}), "CNI_COMMAND");
}

TEST(ParseEnvironment, EachAttachmentVariableIsRequiredForAdd) {
  for (const char* variable : {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"}) {
    EnvironmentVariables variables = AddVariables();
    variables.erase(variable);
    ExpectInvalidVariable(ParseEnvironment(variables), variable);
    variables[variable] = "";  // an empty variable counts as missing
    ExpectInvalidVariable(ParseEnvironment(variables), variable);
  }
}

TEST(ParseEnvironment, CheckNeedsTheNetns) {
  EnvironmentVariables variables = AddVariables();
  variables["CNI_COMMAND"] = "CHECK";
  variables["CNI_NETNS"] = "";
  ExpectInvalidVariable(ParseEnvironment(variables), "CNI_NETNS");
}

// containerd repeats DEL with an empty CNI_NETNS once the sandbox is gone.
TEST(ParseEnvironment, DelAcceptsAnEmptyNetns) {
  EnvironmentVariables variables = AddVariables();
  variables["CNI_COMMAND"] = "DEL";
  variables["CNI_NETNS"] = "";
  absl::StatusOr<Environment> environment = ParseEnvironment(variables);
  ASSERT_TRUE(environment.ok()) << environment.status();
  EXPECT_EQ(environment->netns, "");
  EXPECT_EQ(environment->container_id, "3f2a9c");
}

TEST(ParseEnvironment, DelStillNeedsContainerAndInterface) {
  EnvironmentVariables variables = AddVariables();
  variables["CNI_COMMAND"] = "DEL";
  variables.erase("CNI_IFNAME");
  ExpectInvalidVariable(ParseEnvironment(variables), "CNI_IFNAME");
}

TEST(ParseEnvironment, NetworkWideVerbsNeedNoAttachmentVariables) {
  for (const char* command : {"STATUS", "GC", "VERSION"}) {
    absl::StatusOr<Environment> environment = ParseEnvironment({{"CNI_COMMAND", command}});
    EXPECT_TRUE(environment.ok()) << command << ": " << environment.status();
  }
}

TEST(ParseEnvironment, RejectsContainerIdsOutsideTheSpecAlphabet) {
  for (const char* container_id : {"-abc", "_abc", "ab/c", "ab c", "ab:c"}) {
    EnvironmentVariables variables = AddVariables();
    variables["CNI_CONTAINERID"] = container_id;
    ExpectInvalidVariable(ParseEnvironment(variables), "CNI_CONTAINERID");
  }
  EnvironmentVariables variables = AddVariables();
  variables["CNI_CONTAINERID"] = "k8s_POD.web-0_default";
  EXPECT_TRUE(ParseEnvironment(variables).ok());
}

TEST(ParseEnvironment, RejectsInterfaceNamesTheKernelRefuses) {
  for (const char* ifname : {"a-name-of-16-chr", ".", "..", "eth/0", "eth:0", "eth 0", "eth\t0"}) {
    EnvironmentVariables variables = AddVariables();
    variables["CNI_IFNAME"] = ifname;
    ExpectInvalidVariable(ParseEnvironment(variables), "CNI_IFNAME");
  }
  EnvironmentVariables variables = AddVariables();
  variables["CNI_IFNAME"] = "a-name-of-15-ch";
  EXPECT_TRUE(ParseEnvironment(variables).ok());
}

// Found by tests/fuzz/cni/environment_fuzz.cc: the ADD result carries both, and printing a result
// with bytes that are no UTF-8 ended the plugin after the agent had added the pod.
TEST(ParseEnvironment, RejectsANetnsOrInterfaceNameThatIsNoUtf8) {
  for (const char* variable : {"CNI_NETNS", "CNI_IFNAME"}) {
    EnvironmentVariables variables = AddVariables();
    variables[variable] = "n\xe9t";
    ExpectInvalidVariable(ParseEnvironment(variables), variable);
  }
  EnvironmentVariables variables = AddVariables();
  variables["CNI_NETNS"] = "/var/run/netns/caf\xc3\xa9";  // UTF-8
  EXPECT_TRUE(ParseEnvironment(variables).ok());
}

TEST(ParseCniArgs, ReadsKeysInAnyOrder) {
  absl::StatusOr<PodIdentity> pod = ParseCniArgs(
      "K8S_POD_UID=u-1;K8S_POD_NAME=web-0;IgnoreUnknown=1;K8S_POD_INFRA_CONTAINER_ID=c-1;"
      "K8S_POD_NAMESPACE=shop");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->namespace_name, "shop");
  EXPECT_EQ(pod->name, "web-0");
  EXPECT_EQ(pod->uid, "u-1");
  EXPECT_EQ(pod->infra_container_id, "c-1");
}

TEST(ParseCniArgs, EmptyArgsGiveAnEmptyIdentity) {
  absl::StatusOr<PodIdentity> pod = ParseCniArgs("");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->name, "");
}

TEST(ParseCniArgs, IgnoreUnknownAnywhereAllowsOtherKeys) {
  EXPECT_TRUE(ParseCniArgs("FOO=bar;K8S_POD_NAME=web-0;IgnoreUnknown=1").ok());
  EXPECT_TRUE(ParseCniArgs("IgnoreUnknown=true;FOO=bar").ok());
  EXPECT_TRUE(ParseCniArgs("IgnoreUnknown=TRUE;FOO=bar;").ok());
}

TEST(ParseCniArgs, UnknownKeysWithoutIgnoreUnknownAreNamed) {
  absl::StatusOr<PodIdentity> pod = ParseCniArgs("K8S_POD_NAME=web-0;FOO=bar;IgnoreUnknown=0");
  ExpectInvalidVariable(pod, "CNI_ARGS");
  EXPECT_THAT(std::string(pod.status().message()), HasSubstr("FOO"));
}

TEST(ParseCniArgs, ValuesMayHoldEqualsSigns) {
  absl::StatusOr<PodIdentity> pod = ParseCniArgs("K8S_POD_NAME=a=b");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ(pod->name, "a=b");
}

TEST(ParseCniArgs, RejectsPairsWithoutKeyOrEquals) {
  ExpectInvalidVariable(ParseCniArgs("K8S_POD_NAME"), "CNI_ARGS");
  ExpectInvalidVariable(ParseCniArgs("=web-0"), "CNI_ARGS");
  ExpectInvalidVariable(ParseCniArgs("IgnoreUnknown=maybe"), "CNI_ARGS");
}

TEST(ParseEnvironment, BadCniArgsFailAnAdd) {
  EnvironmentVariables variables = AddVariables();
  variables["CNI_ARGS"] = "K8S_POD_NAME=web-0;FOO=bar";
  ExpectInvalidVariable(ParseEnvironment(variables), "CNI_ARGS");
}

}  // namespace
}  // namespace dpcni::cni
