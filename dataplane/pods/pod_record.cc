#include "pods/pod_record.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "nlohmann/json.hpp"

namespace dpcni::dataplane {
namespace {

// pods.json's layout. Version 0 is the same layout without the field (agents before 2026-11-30);
// it is read as is and written back as 1.
constexpr int kPodStateVersion = 1;

nlohmann::json ToJson(const PodRecord& record) {
  nlohmann::json addresses = nlohmann::json::array();
  for (const Allocation& allocation : record.addresses) {
    addresses.push_back({{"address", allocation.address}, {"pool", allocation.pool}});
  }
  nlohmann::json json = {{"container_id", record.container_id},
                         {"ifname", record.ifname},
                         {"netns", record.netns_path},
                         {"namespace", record.pod_namespace},
                         {"name", record.pod_name},
                         {"uid", record.pod_uid},
                         {"infra_container_id", record.infra_container_id},
                         {"network", record.network},
                         {"mac", record.mac},
                         {"mtu", record.mtu},
                         {"addresses", addresses},
                         {"routes", record.routes},
                         {"added_unix_nanos", record.added_unix_nanos},
                         {"backend", PortBackendName(record.port.backend)}};
  if (!record.complete) json["adding"] = true;  // absent in complete records, as in older files
  return json;
}

// The integer field `key` of a record as T, `fallback` when absent. nlohmann's value<T>() would
// take a float or an integer T cannot hold and convert it: silently, or for a float beyond T's
// range with undefined behaviour (UBSan's float-cast-overflow, which
// tests/fuzz/dataplane/pods_json_fuzz.cc found). Such a record is refused instead.
template <typename T>
absl::StatusOr<T> IntegerField(const nlohmann::json& json, const char* key, T fallback) {
  if (!json.contains(key)) return fallback;
  const nlohmann::json& value = json[key];
  if (value.is_number_unsigned() && std::in_range<T>(value.get<uint64_t>())) {
    return static_cast<T>(value.get<uint64_t>());
  }
  if (value.is_number_integer() && std::in_range<T>(value.get<int64_t>())) {
    return static_cast<T>(value.get<int64_t>());
  }
  return absl::DataLossError(absl::StrCat("pod record whose ", key, " is no integer from ",
                                          std::numeric_limits<T>::min(), " to ",
                                          std::numeric_limits<T>::max()));
}

absl::StatusOr<PodRecord> FromJson(const nlohmann::json& json) {
  PodRecord record;
  record.container_id = json.value("container_id", "");
  record.ifname = json.value("ifname", "");
  record.netns_path = json.value("netns", "");
  record.pod_namespace = json.value("namespace", "");
  record.pod_name = json.value("name", "");
  record.pod_uid = json.value("uid", "");
  record.infra_container_id = json.value("infra_container_id", "");
  record.network = json.value("network", "");
  record.mac = json.value("mac", "");
  absl::StatusOr<uint32_t> mtu = IntegerField<uint32_t>(json, "mtu", 0);
  if (!mtu.ok()) return mtu.status();
  record.mtu = *mtu;
  absl::StatusOr<int64_t> added = IntegerField<int64_t>(json, "added_unix_nanos", 0);
  if (!added.ok()) return added.status();
  record.added_unix_nanos = *added;
  if (json.contains("addresses")) {
    for (const auto& address : json["addresses"]) {
      record.addresses.push_back({address.value("address", ""), address.value("pool", "")});
    }
  }
  if (json.contains("routes")) {
    for (const auto& route : json["routes"]) {
      if (!route.is_string())
        return absl::DataLossError("pod record with a route that is no string");
      record.routes.push_back(route.get<std::string>());
    }
  } else {
    record.routes = {"0.0.0.0/0"};  // what every pod got before routes were recorded
  }
  if (json.contains("adding")) {
    if (!json["adding"].is_boolean())
      return absl::DataLossError("pod record whose adding is no bool");
    record.complete = !json["adding"].get<bool>();
  }
  auto backend = ParsePortBackend(json.value("backend", "tap"));
  if (!backend.ok()) return backend.status();
  record.port.backend = *backend;
  if (record.container_id.empty() || record.ifname.empty()) {
    return absl::DataLossError("pod record without container_id or ifname");
  }
  return record;
}

}  // namespace

std::string PodRecord::DisplayName() const {
  if (pod_name.empty()) return container_id.substr(0, 12);
  return absl::StrCat(pod_namespace, "/", pod_name);
}

absl::StatusOr<std::map<std::string, PodRecord>> PodStore::Load() const {
  std::map<std::string, PodRecord> records;
  auto content = ReadFile(path_);
  if (absl::IsNotFound(content.status())) return records;
  if (!content.ok()) return content.status();
  const nlohmann::json state = nlohmann::json::parse(*content, nullptr, /*allow_exceptions=*/false);
  // The agent refuses to start on a pod state it cannot read whole: starting without the pods it
  // names would hand their addresses out again.
  const std::string fix =
      "; repair it, or move it away to start with no pods (the pods it names then lose their "
      "network)";
  if (state.is_discarded() || !state.is_object() || !state.contains("pods") ||
      !state["pods"].is_array()) {
    return absl::DataLossError(
        absl::StrCat("pod state ", path_, " is not valid JSON with a \"pods\" list", fix));
  }
  const nlohmann::json& version = state.contains("version") ? state["version"] : nlohmann::json(0);
  if (!version.is_number_integer() || version.get<int>() < 0 ||
      version.get<int>() > kPodStateVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod state ", path_, " is version ", version.dump(),
                     ", written by a newer dpcni; this agent reads up to version ",
                     kPodStateVersion, ": run the newer agent, or repair the file"));
  }
  size_t index = 0;
  for (const auto& entry : state["pods"]) {
    absl::StatusOr<PodRecord> record = absl::DataLossError("is not an object");
    // nlohmann's value()/get() throw type_error on a field of the wrong type: a hand-edited or
    // corrupted record must give this error, not end the agent with an uncaught exception.
    try {
      if (entry.is_object()) record = FromJson(entry);
    } catch (const nlohmann::json::exception& wrong_type) {
      record = absl::DataLossError(wrong_type.what());
    }
    // Two records of one attachment cannot both be kept, and dropping either would forget what it
    // names (its addresses, its port).
    if (record.ok() && records.contains(record->Key())) {
      record = absl::DataLossError(absl::StrCat("a second record of attachment ", record->Key()));
    }
    if (!record.ok()) {
      return absl::DataLossError(absl::StrCat("pod state ", path_, ": record ", index, ": ",
                                              record.status().message(), fix));
    }
    const std::string key = record->Key();
    records[key] = *std::move(record);
    ++index;
  }
  return records;
}

absl::Status PodStore::Save(const std::map<std::string, PodRecord>& records) const {
  nlohmann::json pods = nlohmann::json::array();
  for (const auto& [key, record] : records) pods.push_back(ToJson(record));
  return WriteFileAtomically(path_,
                             nlohmann::json{{"version", kPodStateVersion}, {"pods", pods}}.dump(2));
}

}  // namespace dpcni::dataplane
