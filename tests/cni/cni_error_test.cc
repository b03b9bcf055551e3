#include "cni/cni_error.h"

#include <absl/status/statusor.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dpcni::cni {
namespace {

TEST(FormatError, CarriesCodeMessageAndDetails) {
  absl::Status error = CniError(ErrorCode::kTryAgainLater, "agent is restarting", "UNAVAILABLE");
  nlohmann::json expected = {{"cniVersion", "0.4.0"},
                             {"code", 11},
                             {"msg", "agent is restarting"},
                             {"details", "UNAVAILABLE"}};
  EXPECT_EQ(FormatError(error, "0.4.0"), expected);
}

TEST(FormatError, LeavesOutEmptyDetails) {
  nlohmann::json error = FormatError(CniError(ErrorCode::kIoFailure, "stdin closed"), "1.1.0");
  EXPECT_EQ(error, nlohmann::json({{"cniVersion", "1.1.0"}, {"code", 5}, {"msg", "stdin closed"}}));
}

TEST(FormatError, AStatusNotBuiltByCniErrorIsInternal) {
  nlohmann::json error = FormatError(absl::InternalError("bug"), "1.1.0");
  EXPECT_EQ(error["code"], 999);
  EXPECT_EQ(error["msg"], "bug");
}

TEST(CniErrorCodeOf, SurvivesCopiesOfTheStatus) {
  absl::Status original = CniError(ErrorCode::kAgentOutOfResources, "no address left");
  absl::StatusOr<int> carried = original;
  EXPECT_EQ(CniErrorCodeOf(carried.status()), ErrorCode::kAgentOutOfResources);
  EXPECT_EQ(carried.status().code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace dpcni::cni
