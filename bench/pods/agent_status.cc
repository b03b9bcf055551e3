// The agent's Status answer as one line of JSON (proto field names), for bench/pods/scale.sh: the
// benchmark reads figures that dpcnictl's table does not show, such as the mbufs in use.
//   agent_status SOCKET
#include <grpcpp/grpcpp.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "dpcni/v1/dpcni.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: agent_status SOCKET\n");
    return 2;
  }
  auto stub = dpcni::v1::Agent::NewStub(
      grpc::CreateChannel(std::string("unix:") + argv[1], grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  dpcni::v1::StatusResponse status;
  if (grpc::Status called = stub->Status(&context, {}, &status); !called.ok()) {
    std::fprintf(stderr, "agent_status: %s: %s\n", argv[1], called.error_message().c_str());
    return 1;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(status, &json, options).ok()) return 1;
  std::printf("%s\n", json.c_str());
  return 0;
}
