// The CNI_* environment variables a runtime execs the plugin with.
#pragma once

#include <string>

#include <absl/container/flat_hash_map.h>
#include <absl/status/statusor.h>
#include <absl/strings/string_view.h>

namespace dpcni::cni {

enum class Verb { kAdd, kDel, kCheck, kStatus, kGc, kVersion };

absl::string_view VerbName(Verb verb);

// The spec's rule for container ids and network names: an ASCII letter or digit, then letters,
// digits, '_', '.' or '-'.
bool IsValidCniIdentifier(absl::string_view identifier);

// The pod identity kubelet's runtime passes in CNI_ARGS; empty when the caller is not Kubernetes.
struct PodIdentity {
  std::string namespace_name{};
  std::string name{};
  std::string uid{};
  std::string infra_container_id{};
};

struct Environment {
  Verb verb = Verb::kVersion;
  // The next four are set for the attachment verbs (ADD, DEL, CHECK) only.
  std::string container_id{};
  // May be empty on DEL: the runtime repeats DEL after the sandbox is gone.
  std::string netns{};
  std::string ifname{};
  PodIdentity pod{};
};

using EnvironmentVariables = absl::flat_hash_map<std::string, std::string>;

// CNI_ARGS: "K=V;K=V" in any order. Keys other than the K8S_POD_* ones are an error unless
// IgnoreUnknown=1 (or true) appears somewhere in the list, as in the reference plugins.
absl::StatusOr<PodIdentity> ParseCniArgs(absl::string_view cni_args);

// Reads and validates the variables `CNI_COMMAND` needs; each failure is CNI error 4 naming the
// variable. CNI_PATH is not read: dpcni delegates to no other plugin.
absl::StatusOr<Environment> ParseEnvironment(const EnvironmentVariables& variables);

}  // namespace dpcni::cni
