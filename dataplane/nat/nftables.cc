#include "nat/nftables.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {

Nftables::Nftables(Output output) : context_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  // Buffered, so that listings and errors come back to us instead of going to stdout/stderr.
  nft_ctx_buffer_output(context_.get());
  nft_ctx_buffer_error(context_.get());
  if (output == Output::kJson) {
    nft_ctx_output_set_flags(context_.get(),
                             nft_ctx_output_get_flags(context_.get()) | NFT_CTX_OUTPUT_JSON);
  }
}

absl::StatusOr<std::string> Nftables::Run(const std::string& commands) {
  if (nft_run_cmd_from_buffer(context_.get(), commands.c_str()) != 0) {
    const std::string message(
        absl::StripTrailingAsciiWhitespace(nft_ctx_get_error_buffer(context_.get())));
    return absl::InternalError(absl::StrCat("nft: ", message));
  }
  return std::string(nft_ctx_get_output_buffer(context_.get()));
}

}  // namespace dpcni::dataplane
