#include "cni/cni_error.h"

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/types/optional.h>

namespace dpcni::cni {
namespace {

constexpr absl::string_view kCodePayloadUrl = "type.dpcni.dev/cni-error-code";
constexpr absl::string_view kDetailsPayloadUrl = "type.dpcni.dev/cni-error-details";

// The absl code that best describes each CNI code, so logs and callers that only look at the
// status code still see a sensible category.
absl::StatusCode AbslCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kIncompatibleCniVersion:
    case ErrorCode::kUnsupportedField:
    case ErrorCode::kInvalidEnvironmentVariables:
    case ErrorCode::kDecodingFailure:
    case ErrorCode::kInvalidNetworkConfig:
      return absl::StatusCode::kInvalidArgument;
    case ErrorCode::kUnknownContainer:
    case ErrorCode::kAttachmentUnknownToAgent:
      return absl::StatusCode::kNotFound;
    case ErrorCode::kIoFailure:
    case ErrorCode::kTryAgainLater:
    case ErrorCode::kPluginNotAvailable:
    case ErrorCode::kPluginNotAvailableLimitedConnectivity:
      return absl::StatusCode::kUnavailable;
    case ErrorCode::kAgentOutOfResources:
      return absl::StatusCode::kResourceExhausted;
    case ErrorCode::kAttachmentStateMismatch:
      return absl::StatusCode::kFailedPrecondition;
    case ErrorCode::kInternal:
      return absl::StatusCode::kInternal;
  }
  return absl::StatusCode::kInternal;
}

}  // namespace

absl::Status CniError(ErrorCode code, absl::string_view message, absl::string_view details) {
  absl::Status status(AbslCodeFor(code), message);
  status.SetPayload(kCodePayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(code))));
  if (!details.empty()) {
    status.SetPayload(kDetailsPayloadUrl, absl::Cord(details));
  }
  return status;
}

ErrorCode CniErrorCodeOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kCodePayloadUrl);
  int code = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &code)) {
    return ErrorCode::kInternal;
  }
  return static_cast<ErrorCode>(code);
}

nlohmann::json FormatError(const absl::Status& status, absl::string_view cni_version) {
  nlohmann::json error = {
      {"cniVersion", std::string(cni_version)},
      {"code", static_cast<int>(CniErrorCodeOf(status))},
      {"msg", std::string(status.message())},
  };
  if (absl::optional<absl::Cord> details = status.GetPayload(kDetailsPayloadUrl)) {
    error["details"] = std::string(*details);
  }
  return error;
}

}  // namespace dpcni::cni
