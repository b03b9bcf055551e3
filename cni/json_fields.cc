#include "cni/json_fields.h"

#include <utility>

#include <absl/strings/str_cat.h>

#include "cni/cni_error.h"

namespace dpcni::cni {

JsonFields::JsonFields(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)) {}

absl::StatusOr<JsonFields> JsonFields::ForObject(const nlohmann::json& value, std::string path) {
  if (!value.is_object()) {
    return CniError(ErrorCode::kInvalidNetworkConfig, absl::StrCat(path, " must be a JSON object"),
                    value.dump());
  }
  return JsonFields(value, std::move(path));
}

bool JsonFields::Has(absl::string_view key) const { return object_.contains(std::string(key)); }

const nlohmann::json& JsonFields::Raw(absl::string_view key) const {
  return object_.at(std::string(key));
}

std::string JsonFields::PathOf(absl::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
}

absl::Status JsonFields::WrongType(absl::string_view key, absl::string_view expected) const {
  return CniError(ErrorCode::kInvalidNetworkConfig,
                  absl::StrCat(PathOf(key), " must be ", expected),
                  absl::StrCat(PathOf(key), "=", Raw(key).dump()));
}

absl::StatusOr<std::string> JsonFields::RequiredString(absl::string_view key) const {
  if (!Has(key)) {
    return CniError(ErrorCode::kInvalidNetworkConfig, absl::StrCat(PathOf(key), " is required"));
  }
  return OptionalString(key);
}

absl::StatusOr<std::string> JsonFields::OptionalString(absl::string_view key) const {
  if (!Has(key)) {
    return std::string();
  }
  const nlohmann::json& value = Raw(key);
  if (!value.is_string()) {
    return WrongType(key, "a string");
  }
  return value.get<std::string>();
}

absl::StatusOr<std::optional<uint64_t>> JsonFields::OptionalUnsigned(absl::string_view key,
                                                                     uint64_t minimum,
                                                                     uint64_t maximum) const {
  if (!Has(key)) {
    return std::nullopt;
  }
  const nlohmann::json& value = Raw(key);
  if (!value.is_number_unsigned() || value.get<uint64_t>() < minimum ||
      value.get<uint64_t>() > maximum) {
    return WrongType(key, absl::StrCat("an integer from ", minimum, " to ", maximum));
  }
  return value.get<uint64_t>();
}

absl::StatusOr<nlohmann::json> JsonFields::OptionalArray(absl::string_view key) const {
  if (!Has(key)) {
    return nlohmann::json::array();
  }
  const nlohmann::json& value = Raw(key);
  if (!value.is_array()) {
    return WrongType(key, "an array");
  }
  return value;
}

}  // namespace dpcni::cni
