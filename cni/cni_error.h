// CNI error results. A CNI error travels through the plugin as an absl::Status carrying the CNI
// code (and an optional longer "details" text) as payloads, so every layer can use ordinary
// absl::Status plumbing and the code survives until the error object is printed.
#pragma once

#include <string>

#include <absl/status/status.h>
#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

namespace dpcni::cni {

// Codes 1-99 are the CNI spec's well-known errors; 100+ are dpcni's own (see docs/cni.md).
enum class ErrorCode : int {
  kIncompatibleCniVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnvironmentVariables = 4,
  kIoFailure = 5,
  kDecodingFailure = 6,
  kInvalidNetworkConfig = 7,
  kTryAgainLater = 11,
  kPluginNotAvailable = 50,
  kPluginNotAvailableLimitedConnectivity = 51,
  kAgentOutOfResources = 100,
  kAttachmentUnknownToAgent = 101,
  kAttachmentStateMismatch = 102,
  kInternal = 999,
};

// Builds a status that prints as the CNI error {code, msg = message, details}.
absl::Status CniError(ErrorCode code, absl::string_view message, absl::string_view details = "");

// The CNI code of `status`; kInternal for a status that was not built by CniError.
ErrorCode CniErrorCodeOf(const absl::Status& status);

// The CNI error object for a failed `status` (which must not be OK).
nlohmann::json FormatError(const absl::Status& status, absl::string_view cni_version);

}  // namespace dpcni::cni
