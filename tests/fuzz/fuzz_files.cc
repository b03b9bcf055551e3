#include "tests/fuzz/fuzz_files.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <absl/strings/str_cat.h>

#include "tests/fuzz/fuzz_check.h"

namespace dpcni::fuzz {
namespace {

std::string* scratch_dir = nullptr;

void RemoveScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(*scratch_dir, ignored);
}

const std::string& ScratchDir() {
  if (scratch_dir == nullptr) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/dpcni-fuzz-XXXXXX");
    FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr, "mkdtemp %s failed", pattern.c_str());
    scratch_dir = new std::string(pattern);
    std::atexit(RemoveScratchDir);
  }
  return *scratch_dir;
}

}  // namespace

std::string ScratchPath(absl::string_view name) { return absl::StrCat(ScratchDir(), "/", name); }

void WriteScratchFile(const std::string& path, absl::string_view content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(content.data(), static_cast<std::streamsize>(content.size()));
  file.close();
  FUZZ_CHECK(file.good(), "writing %s failed", path.c_str());
}

std::string ReadScratchFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  FUZZ_CHECK(file.good(), "reading %s failed", path.c_str());
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

}  // namespace dpcni::fuzz
