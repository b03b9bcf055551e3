// A thin owner of one libnftables context: runs nft command text (the same syntax as the nft(8)
// command line and its files) in the network namespace of the calling thread, and hands back what
// nft printed or the message it gave for a failure.
#pragma once

#include <nftables/libnftables.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace dpcni::dataplane {

class Nftables {
 public:
  enum class Output { kText, kJson };

  explicit Nftables(Output output = Output::kText);

  // Runs `commands` (one or more lines) as one transaction: either all of them apply or none.
  // Returns nft's output (listings); an error carries nft's own message.
  absl::StatusOr<std::string> Run(const std::string& commands);

 private:
  struct ContextDeleter {
    void operator()(nft_ctx* context) const { nft_ctx_free(context); }
  };
  std::unique_ptr<nft_ctx, ContextDeleter> context_;
};

}  // namespace dpcni::dataplane
