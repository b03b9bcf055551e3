// The CNI ADD result: formatted for the netconf's cniVersion, and parsed back from a prevResult.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>
#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

namespace dpcni::cni {

struct ResultInterface {
  std::string name{};
  std::string mac{};
  std::string sandbox{};  // the netns path; empty for a host interface
  uint32_t mtu = 0;       // 0: not reported
};

struct ResultIp {
  std::string address{};               // CIDR, e.g. "10.244.1.5/24"
  std::string gateway{};               // may be empty
  std::optional<size_t> interface {};  // index into CniResult::interfaces
};

struct ResultRoute {
  std::string dst{};  // CIDR
  std::string gw{};   // may be empty
};

struct CniResult {
  std::vector<ResultInterface> interfaces{};
  std::vector<ResultIp> ips{};
  std::vector<ResultRoute> routes{};
};

// The result JSON in the layout of `cni_version` (a supported version): before 1.0.0 every ips[]
// entry carries "version": "4" or "6"; from 1.1.0 interfaces report their mtu. dns is always {}.
nlohmann::json FormatResult(const CniResult& result, absl::string_view cni_version);

// Reads a result in any supported version's layout (the prevResult given to CHECK); malformed
// content is CNI error 7 naming the offending field under `path`.
absl::StatusOr<CniResult> ParseResult(const nlohmann::json& json, absl::string_view path);

}  // namespace dpcni::cni
