// IPv4 addresses and prefixes in host byte order, parsed and printed with the C library.
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace dpcni::dataplane {

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text);
std::string Ipv4ToString(uint32_t address);

struct Ipv4Prefix {
  uint32_t network = 0;  // host byte order, host bits zero
  uint8_t length = 0;

  // Accepts "a.b.c.d/n"; host bits must be zero.
  static absl::StatusOr<Ipv4Prefix> Parse(absl::string_view text);
  bool Contains(uint32_t address) const;
  uint32_t Mask() const { return length == 0 ? 0 : ~uint32_t{0} << (32 - length); }
  uint64_t Size() const { return uint64_t{1} << (32 - length); }
  std::string ToString() const;
};

// An address with the length of its subnet, as on an interface: "192.168.1.10/24".
struct Ipv4InterfaceAddress {
  uint32_t address = 0;
  uint8_t length = 0;

  static absl::StatusOr<Ipv4InterfaceAddress> Parse(absl::string_view text);
  Ipv4Prefix Subnet() const;
};

}  // namespace dpcni::dataplane
