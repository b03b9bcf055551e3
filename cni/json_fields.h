// Typed access to the fields of a JSON object from the netconf, with errors that name the field's
// full path (e.g. "prevResult.ips[0].address") as CNI error 7.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

namespace dpcni::cni {

class JsonFields {
 public:
  // `path` names `object` itself in error messages; empty for the netconf's top level.
  JsonFields(const nlohmann::json& object, std::string path);

  // Fails unless the value at `path` is a JSON object.
  static absl::StatusOr<JsonFields> ForObject(const nlohmann::json& value, std::string path);

  bool Has(absl::string_view key) const;
  // The value of a present key, whatever its type.
  const nlohmann::json& Raw(absl::string_view key) const;
  std::string PathOf(absl::string_view key) const;

  absl::StatusOr<std::string> RequiredString(absl::string_view key) const;
  // An absent key reads as "".
  absl::StatusOr<std::string> OptionalString(absl::string_view key) const;
  // An absent key reads as nullopt; a present one must be an integer in [minimum, maximum].
  absl::StatusOr<std::optional<uint64_t>> OptionalUnsigned(absl::string_view key, uint64_t minimum,
                                                           uint64_t maximum) const;
  // An absent key reads as an empty array.
  absl::StatusOr<nlohmann::json> OptionalArray(absl::string_view key) const;

 private:
  absl::Status WrongType(absl::string_view key, absl::string_view expected) const;

  const nlohmann::json& object_;
  std::string path_;
};

}  // namespace dpcni::cni
