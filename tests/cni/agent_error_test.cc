#include "cni/agent_error.h"

#include <absl/strings/str_cat.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cni/cni_error.h"

namespace dpcni::cni {
namespace {

struct MappingCase {
  absl::StatusCode agent_code;
  Verb verb;
  ErrorCode expected;
};

class AgentErrorMappingTest : public ::testing::TestWithParam<MappingCase> {};

TEST_P(AgentErrorMappingTest, MapsTheAgentCodeForTheVerb) {
  const MappingCase& mapping = GetParam();
  absl::Status error = CniErrorFromAgent(absl::Status(mapping.agent_code, "agent says no"),
                                         mapping.verb, "cannot add pod default/web-0");
  EXPECT_EQ(CniErrorCodeOf(error), mapping.expected)
      << absl::StatusCodeToString(mapping.agent_code) << " on " << VerbName(mapping.verb);
}

INSTANTIATE_TEST_SUITE_P(
    CniErrorFromAgent, AgentErrorMappingTest,
    ::testing::Values(
        MappingCase{absl::StatusCode::kUnavailable, Verb::kAdd, ErrorCode::kTryAgainLater},
        MappingCase{absl::StatusCode::kUnavailable, Verb::kDel, ErrorCode::kTryAgainLater},
        MappingCase{absl::StatusCode::kUnavailable, Verb::kCheck, ErrorCode::kTryAgainLater},
        MappingCase{absl::StatusCode::kUnavailable, Verb::kGc, ErrorCode::kTryAgainLater},
        MappingCase{absl::StatusCode::kUnavailable, Verb::kStatus, ErrorCode::kPluginNotAvailable},
        MappingCase{absl::StatusCode::kDeadlineExceeded, Verb::kAdd, ErrorCode::kTryAgainLater},
        MappingCase{absl::StatusCode::kDeadlineExceeded, Verb::kStatus,
                    ErrorCode::kPluginNotAvailable},
        MappingCase{absl::StatusCode::kInvalidArgument, Verb::kAdd,
                    ErrorCode::kInvalidNetworkConfig},
        MappingCase{absl::StatusCode::kResourceExhausted, Verb::kAdd,
                    ErrorCode::kAgentOutOfResources},
        MappingCase{absl::StatusCode::kNotFound, Verb::kCheck,
                    ErrorCode::kAttachmentUnknownToAgent},
        MappingCase{absl::StatusCode::kFailedPrecondition, Verb::kCheck,
                    ErrorCode::kAttachmentStateMismatch},
        MappingCase{absl::StatusCode::kNotFound, Verb::kAdd, ErrorCode::kInternal},
        MappingCase{absl::StatusCode::kFailedPrecondition, Verb::kDel, ErrorCode::kInternal},
        MappingCase{absl::StatusCode::kInternal, Verb::kAdd, ErrorCode::kInternal},
        MappingCase{absl::StatusCode::kUnknown, Verb::kDel, ErrorCode::kInternal},
        MappingCase{absl::StatusCode::kPermissionDenied, Verb::kGc, ErrorCode::kInternal}),
    [](const ::testing::TestParamInfo<MappingCase>& info) {
      // e.g. "UNAVAILABLE_on_STATUS"
      return absl::StrCat(absl::StatusCodeToString(info.param.agent_code), "_on_",
                          VerbName(info.param.verb));
    });

TEST(CniErrorFromAgent, KeepsTheContextAndTheAgentsMessage) {
  absl::Status error = CniErrorFromAgent(absl::InternalError("port 7 failed to start"), Verb::kAdd,
                                         "cannot add pod default/web-0");
  nlohmann::json json = FormatError(error, "1.0.0");
  EXPECT_EQ(json["msg"], "cannot add pod default/web-0: port 7 failed to start");
  EXPECT_EQ(json["details"], "agent status INTERNAL");
}

}  // namespace
}  // namespace dpcni::cni
