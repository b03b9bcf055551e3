#include "cni/result.h"

#include <limits>
#include <utility>

#include <absl/strings/match.h>
#include <absl/strings/str_cat.h>

#include "cni/cni_error.h"
#include "cni/json_fields.h"
#include "cni/status_macros.h"
#include "cni/version.h"

namespace dpcni::cni {
namespace {

nlohmann::json FormatInterface(const ResultInterface& interface, bool with_mtu) {
  nlohmann::json json = {{"name", interface.name}};
  if (!interface.mac.empty()) json["mac"] = interface.mac;
  if (with_mtu && interface.mtu != 0) json["mtu"] = interface.mtu;
  if (!interface.sandbox.empty()) json["sandbox"] = interface.sandbox;
  return json;
}

nlohmann::json FormatIp(const ResultIp& ip, bool with_ip_version) {
  nlohmann::json json = {{"address", ip.address}};
  // An IPv6 address always holds ':' and an IPv4 one never does.
  if (with_ip_version) json["version"] = absl::StrContains(ip.address, ':') ? "6" : "4";
  if (!ip.gateway.empty()) json["gateway"] = ip.gateway;
  if (ip.interface.has_value()) json["interface"] = *ip.interface;
  return json;
}

nlohmann::json FormatRoute(const ResultRoute& route) {
  nlohmann::json json = {{"dst", route.dst}};
  if (!route.gw.empty()) json["gw"] = route.gw;
  return json;
}

absl::StatusOr<ResultInterface> ParseInterface(const nlohmann::json& json, std::string path) {
  ASSIGN_OR_RETURN(JsonFields fields, JsonFields::ForObject(json, std::move(path)));
  ResultInterface interface;
  ASSIGN_OR_RETURN(interface.name, fields.RequiredString("name"));
  ASSIGN_OR_RETURN(interface.mac, fields.OptionalString("mac"));
  ASSIGN_OR_RETURN(interface.sandbox, fields.OptionalString("sandbox"));
  ASSIGN_OR_RETURN(std::optional<uint64_t> mtu,
                   fields.OptionalUnsigned("mtu", 0, std::numeric_limits<uint32_t>::max()));
  interface.mtu = static_cast<uint32_t>(mtu.value_or(0));
  return interface;
}

absl::StatusOr<ResultIp> ParseIp(const nlohmann::json& json, std::string path,
                                 size_t interface_count) {
  ASSIGN_OR_RETURN(JsonFields fields, JsonFields::ForObject(json, std::move(path)));
  ResultIp ip;
  ASSIGN_OR_RETURN(ip.address, fields.RequiredString("address"));
  ASSIGN_OR_RETURN(ip.gateway, fields.OptionalString("gateway"));
  if (!fields.Has("interface")) {
    return ip;
  }
  if (interface_count == 0) {
    return CniError(ErrorCode::kInvalidNetworkConfig,
                    absl::StrCat(fields.PathOf("interface"),
                                 " refers to an interface but the result lists none"));
  }
  ASSIGN_OR_RETURN(ip.interface, fields.OptionalUnsigned("interface", 0, interface_count - 1));
  return ip;
}

absl::StatusOr<ResultRoute> ParseRoute(const nlohmann::json& json, std::string path) {
  ASSIGN_OR_RETURN(JsonFields fields, JsonFields::ForObject(json, std::move(path)));
  ResultRoute route;
  ASSIGN_OR_RETURN(route.dst, fields.RequiredString("dst"));
  ASSIGN_OR_RETURN(route.gw, fields.OptionalString("gw"));
  return route;
}

// Parses every element of `array` (found at `path`) with `parse_element`.
template <typename Element, typename ParseElement>
absl::Status ParseEach(const nlohmann::json& array, absl::string_view path,
                       ParseElement parse_element, std::vector<Element>& out) {
  for (size_t i = 0; i < array.size(); ++i) {
    ASSIGN_OR_RETURN(Element element, parse_element(array[i], absl::StrCat(path, "[", i, "]")));
    out.push_back(std::move(element));
  }
  return absl::OkStatus();
}

}  // namespace

nlohmann::json FormatResult(const CniResult& result, absl::string_view cni_version) {
  const bool with_ip_version = !CniVersionAtLeast(cni_version, "1.0.0");
  const bool with_mtu = CniVersionAtLeast(cni_version, "1.1.0");
  nlohmann::json interfaces = nlohmann::json::array();
  for (const ResultInterface& interface : result.interfaces) {
    interfaces.push_back(FormatInterface(interface, with_mtu));
  }
  nlohmann::json ips = nlohmann::json::array();
  for (const ResultIp& ip : result.ips) {
    ips.push_back(FormatIp(ip, with_ip_version));
  }
  nlohmann::json routes = nlohmann::json::array();
  for (const ResultRoute& route : result.routes) {
    routes.push_back(FormatRoute(route));
  }
  return {
      {"cniVersion", std::string(cni_version)},
      {"interfaces", interfaces},
      {"ips", ips},
      {"routes", routes},
      {"dns", nlohmann::json::object()},
  };
}

absl::StatusOr<CniResult> ParseResult(const nlohmann::json& json, absl::string_view path) {
  ASSIGN_OR_RETURN(JsonFields fields, JsonFields::ForObject(json, std::string(path)));
  ASSIGN_OR_RETURN(nlohmann::json interfaces, fields.OptionalArray("interfaces"));
  ASSIGN_OR_RETURN(nlohmann::json ips, fields.OptionalArray("ips"));
  ASSIGN_OR_RETURN(nlohmann::json routes, fields.OptionalArray("routes"));

  CniResult result;
  RETURN_IF_ERROR(
      ParseEach(interfaces, fields.PathOf("interfaces"), ParseInterface, result.interfaces));
  const size_t interface_count = result.interfaces.size();
  RETURN_IF_ERROR(ParseEach(
      ips, fields.PathOf("ips"),
      [interface_count](const nlohmann::json& ip, std::string ip_path) {
        return ParseIp(ip, std::move(ip_path), interface_count);
      },
      result.ips));
  RETURN_IF_ERROR(ParseEach(routes, fields.PathOf("routes"), ParseRoute, result.routes));
  return result;
}

}  // namespace dpcni::cni
