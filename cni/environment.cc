#include "cni/environment.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include <nlohmann/json.hpp>

#include "cni/cni_error.h"

namespace dpcni::cni {
namespace {

constexpr std::array<std::pair<absl::string_view, Verb>, 6> kVerbsByName = {{
    {"ADD", Verb::kAdd},
    {"DEL", Verb::kDel},
    {"CHECK", Verb::kCheck},
    {"STATUS", Verb::kStatus},
    {"GC", Verb::kGc},
    {"VERSION", Verb::kVersion},
}};

// Linux limits interface names to IFNAMSIZ (16) bytes including the terminating NUL.
constexpr size_t kMaxInterfaceNameLength = 15;

absl::Status InvalidVariable(absl::string_view variable, absl::string_view problem,
                             absl::string_view value) {
  return CniError(ErrorCode::kInvalidEnvironmentVariables, absl::StrCat(variable, " ", problem),
                  absl::StrCat(variable, "=", value));
}

absl::string_view Lookup(const EnvironmentVariables& variables, absl::string_view name) {
  auto it = variables.find(name);
  return it == variables.end() ? absl::string_view() : absl::string_view(it->second);
}

absl::StatusOr<Verb> ParseVerb(absl::string_view command) {
  if (command.empty()) {
    return CniError(ErrorCode::kInvalidEnvironmentVariables,
                    "required environment variable CNI_COMMAND is missing");
  }
  for (const auto& [name, verb] : kVerbsByName) {
    if (command == name) {
      return verb;
    }
  }
  return InvalidVariable("CNI_COMMAND", "is not one of ADD, DEL, CHECK, STATUS, GC, VERSION",
                         command);
}

bool IsAttachmentVerb(Verb verb) {
  return verb == Verb::kAdd || verb == Verb::kDel || verb == Verb::kCheck;
}

absl::Status ValidateContainerId(absl::string_view container_id) {
  if (!IsValidCniIdentifier(container_id)) {
    return InvalidVariable("CNI_CONTAINERID",
                           "must start with a letter or digit and hold only letters, digits, "
                           "'_', '.' and '-'",
                           container_id);
  }
  return absl::OkStatus();
}

// Whether `text` can go into the JSON the plugin prints: nlohmann's dump refuses a string that is
// not UTF-8 (type_error 316) and would end the plugin after the agent did the work.
bool IsUtf8(absl::string_view text) {
  try {
    nlohmann::json(std::string(text)).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// The netns path and the interface name go into the ADD result (interfaces[].sandbox and .name).
// Found by tests/fuzz/cni/environment_fuzz.cc.
absl::Status ValidateUtf8(absl::string_view variable, absl::string_view value) {
  if (!IsUtf8(value)) {
    return CniError(ErrorCode::kInvalidEnvironmentVariables,
                    absl::StrCat(variable, " is not UTF-8, which the CNI result cannot carry"));
  }
  return absl::OkStatus();
}

// The kernel's rules for a network interface name (dev_valid_name()).
absl::Status ValidateInterfaceName(absl::string_view ifname) {
  if (ifname.size() > kMaxInterfaceNameLength) {
    return InvalidVariable("CNI_IFNAME",
                           absl::StrCat("is longer than ", kMaxInterfaceNameLength, " characters"),
                           ifname);
  }
  if (ifname == "." || ifname == "..") {
    return InvalidVariable("CNI_IFNAME", "must not be \".\" or \"..\"", ifname);
  }
  for (char c : ifname) {
    if (c == '/' || c == ':' || absl::ascii_isspace(c)) {
      return InvalidVariable("CNI_IFNAME", "must not contain '/', ':' or whitespace", ifname);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ParseCniArgsBool(absl::string_view key, absl::string_view value) {
  if (value == "1" || absl::EqualsIgnoreCase(value, "true")) {
    return true;
  }
  if (value == "0" || absl::EqualsIgnoreCase(value, "false")) {
    return false;
  }
  return InvalidVariable("CNI_ARGS",
                         absl::StrCat("has ", key, " that is neither 1/true nor 0/false"), value);
}

}  // namespace

bool IsValidCniIdentifier(absl::string_view identifier) {
  if (identifier.empty() || !absl::ascii_isalnum(identifier.front())) {
    return false;
  }
  return std::all_of(identifier.begin(), identifier.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-';
  });
}

absl::string_view VerbName(Verb verb) {
  for (const auto& [name, candidate] : kVerbsByName) {
    if (candidate == verb) {
      return name;
    }
  }
  return "UNKNOWN";
}

absl::StatusOr<PodIdentity> ParseCniArgs(absl::string_view cni_args) {
  PodIdentity pod;
  const std::array<std::pair<absl::string_view, std::string*>, 4> known_keys = {{
      {"K8S_POD_NAMESPACE", &pod.namespace_name},
      {"K8S_POD_NAME", &pod.name},
      {"K8S_POD_UID", &pod.uid},
      {"K8S_POD_INFRA_CONTAINER_ID", &pod.infra_container_id},
  }};
  bool ignore_unknown = false;
  std::vector<absl::string_view> unknown_keys;
  for (absl::string_view pair : absl::StrSplit(cni_args, ';', absl::SkipEmpty())) {
    size_t equals = pair.find('=');
    if (equals == 0 || equals == absl::string_view::npos) {
      return InvalidVariable("CNI_ARGS", absl::StrCat("has \"", pair, "\" that is not KEY=VALUE"),
                             cni_args);
    }
    absl::string_view key = pair.substr(0, equals);
    absl::string_view value = pair.substr(equals + 1);
    if (key == "IgnoreUnknown") {
      absl::StatusOr<bool> flag = ParseCniArgsBool(key, value);
      if (!flag.ok()) {
        return flag.status();
      }
      ignore_unknown = *flag;
      continue;
    }
    auto known = std::find_if(known_keys.begin(), known_keys.end(),
                              [key](const auto& entry) { return entry.first == key; });
    if (known == known_keys.end()) {
      unknown_keys.push_back(key);
    } else {
      *known->second = std::string(value);
    }
  }
  if (!unknown_keys.empty() && !ignore_unknown) {
    return InvalidVariable(
        "CNI_ARGS",
        absl::StrCat("has unknown keys ", absl::StrJoin(unknown_keys, ", "),
                     " (add IgnoreUnknown=1 to pass keys meant for other plugins)"),
        cni_args);
  }
  return pod;
}

absl::StatusOr<Environment> ParseEnvironment(const EnvironmentVariables& variables) {
  Environment environment;
  absl::StatusOr<Verb> verb = ParseVerb(Lookup(variables, "CNI_COMMAND"));
  if (!verb.ok()) {
    return verb.status();
  }
  environment.verb = *verb;
  if (!IsAttachmentVerb(environment.verb)) {
    return environment;
  }

  environment.container_id = std::string(Lookup(variables, "CNI_CONTAINERID"));
  environment.netns = std::string(Lookup(variables, "CNI_NETNS"));
  environment.ifname = std::string(Lookup(variables, "CNI_IFNAME"));
  std::vector<absl::string_view> missing;
  if (environment.container_id.empty()) missing.push_back("CNI_CONTAINERID");
  if (environment.netns.empty() && environment.verb != Verb::kDel) missing.push_back("CNI_NETNS");
  if (environment.ifname.empty()) missing.push_back("CNI_IFNAME");
  if (!missing.empty()) {
    return CniError(ErrorCode::kInvalidEnvironmentVariables,
                    absl::StrCat("required environment variables missing for ",
                                 VerbName(environment.verb), ": ", absl::StrJoin(missing, ", ")));
  }
  if (absl::Status status = ValidateContainerId(environment.container_id); !status.ok()) {
    return status;
  }
  if (absl::Status status = ValidateInterfaceName(environment.ifname); !status.ok()) {
    return status;
  }
  for (const auto& [variable, value] :
       {std::pair<absl::string_view, absl::string_view>{"CNI_NETNS", environment.netns},
        {"CNI_IFNAME", environment.ifname}}) {
    if (absl::Status status = ValidateUtf8(variable, value); !status.ok()) return status;
  }
  absl::StatusOr<PodIdentity> pod = ParseCniArgs(Lookup(variables, "CNI_ARGS"));
  if (!pod.ok()) {
    return pod.status();
  }
  environment.pod = *std::move(pod);
  return environment;
}

}  // namespace dpcni::cni
