#include "ipam/ipv4.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dpcni::dataplane {

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text) {
  in_addr parsed{};
  const std::string copy(text);
  if (::inet_pton(AF_INET, copy.c_str(), &parsed) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: \"", text, "\""));
  }
  return ntohl(parsed.s_addr);
}

std::string Ipv4ToString(uint32_t address) {
  in_addr value{htonl(address)};
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &value, text, sizeof(text));
  return text;
}

absl::StatusOr<Ipv4InterfaceAddress> Ipv4InterfaceAddress::Parse(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  uint32_t length = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &length) || length > 32) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address/length: \"", text, "\""));
  }
  auto address = ParseIpv4(parts[0]);
  if (!address.ok()) return address.status();
  return Ipv4InterfaceAddress{*address, static_cast<uint8_t>(length)};
}

Ipv4Prefix Ipv4InterfaceAddress::Subnet() const {
  Ipv4Prefix subnet{0, length};
  subnet.network = address & subnet.Mask();
  return subnet;
}

absl::StatusOr<Ipv4Prefix> Ipv4Prefix::Parse(absl::string_view text) {
  auto parsed = Ipv4InterfaceAddress::Parse(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 prefix: \"", text, "\""));
  }
  const uint8_t length = parsed->length;
  Ipv4Prefix prefix{parsed->address, length};
  if ((prefix.network & ~prefix.Mask()) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("prefix \"", text, "\" has host bits set (did you mean ",
                     Ipv4ToString(prefix.network & prefix.Mask()), "/", length, "?)"));
  }
  return prefix;
}

bool Ipv4Prefix::Contains(uint32_t address) const { return (address & Mask()) == network; }

std::string Ipv4Prefix::ToString() const {
  return absl::StrCat(Ipv4ToString(network), "/", length);
}

}  // namespace dpcni::dataplane
