// The plugin binary is copied onto every node's host, which has none of gRPC, protobuf, abseil or
// libstdc++'s versions we build with: its only shared libraries must be glibc's own.
#include <stdio.h>

#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace {

// The part of an `ldd` line that names the library: "libc.so.6 => /lib/..." -> "libc.so.6",
// "/lib64/ld-linux-x86-64.so.2 (0x...)" -> "ld-linux-x86-64.so.2".
std::string LibraryName(const std::string& line) {
  std::istringstream words(line);
  std::string first;
  words >> first;
  return first.substr(first.find_last_of('/') + 1);
}

TEST(PluginBinary, LinksOnlyGlibcDynamically) {
  const std::set<std::string> glibc = {"linux-vdso.so.1", "ld-linux-x86-64.so.2", "libc.so.6",
                                       "libm.so.6",       "libpthread.so.0",      "librt.so.1",
                                       "libdl.so.2"};
  FILE* ldd = popen("ldd " DPCNI_PLUGIN_PATH " 2>&1", "r");
  ASSERT_NE(ldd, nullptr);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), ldd) != nullptr) output += buffer;
  ASSERT_EQ(pclose(ldd), 0) << output;

  std::istringstream lines(output);
  std::set<std::string> libraries;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) libraries.insert(LibraryName(line));
  }
  EXPECT_TRUE(libraries.contains("libc.so.6")) << output;
  for (const std::string& library : libraries) {
    EXPECT_TRUE(glibc.contains(library)) << library << " is not part of glibc:\n" << output;
  }
}

}  // namespace
