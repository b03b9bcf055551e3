// One call to the agent, from a benchmark script: the answer is printed as one line of JSON (proto
// field names). The benchmarks read figures dpcnictl's tables leave out (scale.sh: the mbufs in
// use) and program what, in a cluster, the Kubernetes component would (cross_node.sh: the remote
// nodes).
//   agent_rpc SOCKET Status
//   agent_rpc SOCKET SetRemoteNodes '{"nodes": [{"name": ..., "address": ..., "pod_cidrs":
//   [...]}]}'
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "dpcni/v1/dpcni.grpc.pb.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: agent_rpc SOCKET Status\n"
               "       agent_rpc SOCKET SetRemoteNodes JSON\n");
  return 2;
}

int Print(const google::protobuf::Message& answer) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(answer, &json, options).ok()) return 1;
  std::printf("%s\n", json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string socket = argv[1];
  const std::string method = argv[2];
  auto stub = dpcni::v1::Agent::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status called;
  int printed = 1;
  if (method == "Status" && argc == 3) {
    dpcni::v1::StatusResponse status;
    called = stub->Status(&context, {}, &status);
    if (called.ok()) printed = Print(status);
  } else if (method == "SetRemoteNodes" && argc == 4) {
    dpcni::v1::SetRemoteNodesRequest request;
    if (auto parsed = google::protobuf::util::JsonStringToMessage(argv[3], &request);
        !parsed.ok()) {
      std::fprintf(stderr, "agent_rpc: SetRemoteNodes request: %s\n", parsed.ToString().c_str());
      return 2;
    }
    dpcni::v1::SetRemoteNodesResponse answer;
    called = stub->SetRemoteNodes(&context, request, &answer);
    if (called.ok()) printed = Print(answer);
  } else {
    return Usage();
  }
  if (!called.ok()) {
    std::fprintf(stderr, "agent_rpc: %s %s: %s\n", socket.c_str(), method.c_str(),
                 called.error_message().c_str());
    return 1;
  }
  return printed;
}
