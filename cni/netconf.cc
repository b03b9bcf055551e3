#include "cni/netconf.h"

#include <arpa/inet.h>

#include <utility>

#include <absl/strings/ascii.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>

#include "cni/cni_error.h"
#include "cni/environment.h"
#include "cni/json_fields.h"
#include "cni/status_macros.h"
#include "cni/version.h"

namespace dpcni::cni {
namespace {

// IPv4 needs at least 68 bytes per link (RFC 791); a frame cannot exceed 64 KiB.
constexpr uint64_t kMinMtu = 68;
constexpr uint64_t kMaxMtu = 65535;

absl::Status InvalidField(absl::string_view path, absl::string_view problem,
                          absl::string_view value) {
  return CniError(ErrorCode::kInvalidNetworkConfig, absl::StrCat(path, " ", problem),
                  absl::StrCat(path, "=", value));
}

absl::StatusOr<nlohmann::json> DecodeObject(absl::string_view text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    // parse_error, and out_of_range for a number beyond a double (1e999), which is no parse_error
    // (found by tests/fuzz/cni/netconf_fuzz.cc: it ended the plugin uncaught).
    return CniError(ErrorCode::kDecodingFailure, "cannot decode the netconf on stdin as JSON",
                    error.what());
  }
  if (!json.is_object()) {
    return CniError(ErrorCode::kDecodingFailure, "the netconf on stdin is not a JSON object",
                    json.dump());
  }
  return json;
}

// "aa:bb:cc:dd:ee:ff" with a unicast first octet: an interface cannot own a group address.
bool IsUnicastMac(absl::string_view mac) {
  std::vector<absl::string_view> octets = absl::StrSplit(mac, ':');
  if (octets.size() != 6) return false;
  for (absl::string_view octet : octets) {
    if (octet.size() != 2 || !absl::ascii_isxdigit(octet[0]) || !absl::ascii_isxdigit(octet[1])) {
      return false;
    }
  }
  int first_octet = 0;
  return absl::SimpleHexAtoi(octets[0], &first_octet) && (first_octet & 1) == 0;
}

// "address/prefix" with an IPv4 or IPv6 address and a prefix length that fits it.
bool IsCidr(absl::string_view cidr) {
  std::pair<std::string, absl::string_view> parts = absl::StrSplit(cidr, absl::MaxSplits('/', 1));
  int prefix = 0;
  if (parts.second.empty() || !absl::SimpleAtoi(parts.second, &prefix) || prefix < 0) return false;
  unsigned char address[16];
  if (inet_pton(AF_INET, parts.first.c_str(), address) == 1) return prefix <= 32;
  if (inet_pton(AF_INET6, parts.first.c_str(), address) == 1) return prefix <= 128;
  return false;
}

absl::Status ParseVersionAndName(const JsonFields& fields, NetConf& conf) {
  ASSIGN_OR_RETURN(conf.cni_version, fields.RequiredString("cniVersion"));
  if (!IsSupportedCniVersion(conf.cni_version)) {
    return CniError(
        ErrorCode::kIncompatibleCniVersion,
        absl::StrCat("cniVersion ", conf.cni_version, " is not supported"),
        absl::StrCat("supported versions: ", absl::StrJoin(kSupportedCniVersions, ", ")));
  }
  ASSIGN_OR_RETURN(conf.name, fields.RequiredString("name"));
  if (!IsValidCniIdentifier(conf.name)) {
    return InvalidField("name",
                        "must start with a letter or digit and hold only letters, digits, '_', "
                        "'.' and '-'",
                        conf.name);
  }
  ASSIGN_OR_RETURN(std::string type, fields.RequiredString("type"));
  if (type != kPluginType) {
    return InvalidField("type", absl::StrCat("must be \"", kPluginType, "\""), type);
  }
  return absl::OkStatus();
}

absl::Status ParsePluginFields(const JsonFields& fields, NetConf& conf) {
  if (fields.Has("ipam")) {
    return CniError(ErrorCode::kUnsupportedField,
                    "unsupported field ipam: dpcni's node agent assigns pod addresses",
                    absl::StrCat("ipam=", fields.Raw("ipam").dump()));
  }
  if (fields.Has("agentSocket")) {
    ASSIGN_OR_RETURN(conf.agent_socket, fields.OptionalString("agentSocket"));
    if (!conf.agent_socket.starts_with('/')) {
      return InvalidField("agentSocket", "must be an absolute path", conf.agent_socket);
    }
  }
  ASSIGN_OR_RETURN(std::optional<uint64_t> mtu, fields.OptionalUnsigned("mtu", kMinMtu, kMaxMtu));
  conf.mtu = static_cast<uint32_t>(mtu.value_or(0));
  return absl::OkStatus();
}

absl::Status ParseRoutes(const JsonFields& fields, NetConf& conf) {
  if (!fields.Has("routes")) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(nlohmann::json routes, fields.OptionalArray("routes"));
  conf.routes.emplace();
  for (size_t i = 0; i < routes.size(); ++i) {
    const std::string path = absl::StrCat("routes[", i, "]");
    ASSIGN_OR_RETURN(JsonFields route, JsonFields::ForObject(routes[i], path));
    ResultRoute parsed;
    ASSIGN_OR_RETURN(parsed.dst, route.RequiredString("dst"));
    if (!IsCidr(parsed.dst) || parsed.dst.find(':') != std::string::npos) {
      return InvalidField(absl::StrCat(path, ".dst"),
                          "must be an IPv4 prefix in CIDR notation like 0.0.0.0/0", parsed.dst);
    }
    // The agent knows the gateway and refuses any other.
    ASSIGN_OR_RETURN(parsed.gw, route.OptionalString("gw"));
    conf.routes->push_back(std::move(parsed));
  }
  return absl::OkStatus();
}

absl::Status ParseRuntimeConfig(const JsonFields& fields, NetConf& conf) {
  if (!fields.Has("runtimeConfig")) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(JsonFields runtime,
                   JsonFields::ForObject(fields.Raw("runtimeConfig"), "runtimeConfig"));
  ASSIGN_OR_RETURN(conf.requested_mac, runtime.OptionalString("mac"));
  if (!conf.requested_mac.empty() && !IsUnicastMac(conf.requested_mac)) {
    return InvalidField("runtimeConfig.mac", "must be a unicast MAC like 02:00:00:00:00:01",
                        conf.requested_mac);
  }
  ASSIGN_OR_RETURN(nlohmann::json ips, runtime.OptionalArray("ips"));
  for (size_t i = 0; i < ips.size(); ++i) {
    std::string path = absl::StrCat("runtimeConfig.ips[", i, "]");
    if (!ips[i].is_string() || !IsCidr(ips[i].get_ref<const std::string&>())) {
      return InvalidField(path, "must be an address in CIDR notation like 10.244.1.5/24",
                          ips[i].dump());
    }
    if (ips[i].get_ref<const std::string&>().find(':') != std::string::npos) {
      // The agent's pools are IPv4 until IPv6 arrives: say so here rather than let it fail there.
      return InvalidField(path, "is an IPv6 address: dpcni assigns IPv4 addresses only",
                          ips[i].dump());
    }
    conf.requested_ips.push_back(ips[i].get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParseValidAttachments(const JsonFields& fields, NetConf& conf) {
  constexpr absl::string_view kKey = "cni.dev/valid-attachments";
  ASSIGN_OR_RETURN(nlohmann::json attachments, fields.OptionalArray(kKey));
  for (size_t i = 0; i < attachments.size(); ++i) {
    ASSIGN_OR_RETURN(JsonFields attachment,
                     JsonFields::ForObject(attachments[i], absl::StrCat(kKey, "[", i, "]")));
    AttachmentKey key;
    ASSIGN_OR_RETURN(key.container_id, attachment.RequiredString("containerID"));
    ASSIGN_OR_RETURN(key.ifname, attachment.RequiredString("ifname"));
    conf.valid_attachments.push_back(std::move(key));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NetConf> ParseNetConf(absl::string_view text) {
  ASSIGN_OR_RETURN(nlohmann::json json, DecodeObject(text));
  JsonFields fields(json, "");
  NetConf conf;
  RETURN_IF_ERROR(ParseVersionAndName(fields, conf));
  RETURN_IF_ERROR(ParsePluginFields(fields, conf));
  RETURN_IF_ERROR(ParseRoutes(fields, conf));
  RETURN_IF_ERROR(ParseRuntimeConfig(fields, conf));
  if (fields.Has("prevResult")) {
    ASSIGN_OR_RETURN(conf.prev_result, ParseResult(fields.Raw("prevResult"), "prevResult"));
  }
  RETURN_IF_ERROR(ParseValidAttachments(fields, conf));
  return conf;
}

std::string ReplyCniVersion(absl::string_view text) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("cniVersion") && json["cniVersion"].is_string() &&
      IsSupportedCniVersion(json["cniVersion"].get_ref<const std::string&>())) {
    return json["cniVersion"].get<std::string>();
  }
  return std::string(kLatestCniVersion);
}

}  // namespace dpcni::cni
