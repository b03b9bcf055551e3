// libFuzzer target: the agent's pod state file, pods.json (dataplane/pods/pod_record.h), read at
// start by PodStore::Load.
//
// Invariants: Load returns records or an error whose message names the file; it never crashes or
// throws on a corrupted or hand-edited file. Records it returns are keyed by their attachment
// (container id/ifname, both set), every entry of the file's "pods" list is among them (a record
// silently dropped would be a pod whose address and port the agent forgets), and what it returns
// survives a Save and Load unchanged.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

#include "pods/pod_record.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_files.h"

namespace dpcni::dataplane {
namespace {

void Check(absl::string_view content) {
  static const std::string path = fuzz::ScratchPath("pods.json");
  static const std::string saved_path = fuzz::ScratchPath("pods-saved.json");
  fuzz::WriteScratchFile(path, content);
  const absl::StatusOr<std::map<std::string, PodRecord>> records = PodStore(path).Load();
  if (!records.ok()) {
    FUZZ_CHECK(records.status().message().find(path) != absl::string_view::npos,
               "the error does not name the file: %s", records.status().ToString().c_str());
    return;
  }
  for (const auto& [key, record] : *records) {
    FUZZ_CHECK(!record.container_id.empty() && !record.ifname.empty(),
               "a record without container id or ifname");
    FUZZ_CHECK(key == record.Key(), "record %s kept under %s", record.Key().c_str(), key.c_str());
  }
  // Loaded, the file was JSON with a "pods" list (or empty: no pods).
  const nlohmann::json state = nlohmann::json::parse(content, nullptr, false);
  const size_t entries = state.is_object() && state.contains("pods") ? state["pods"].size() : 0;
  FUZZ_CHECK(records->size() == entries, "%zu records loaded from %zu entries: some were dropped",
             records->size(), entries);

  const PodStore saved(saved_path);
  FUZZ_CHECK(saved.Save(*records).ok(), "Save failed");
  const std::string first = fuzz::ReadScratchFile(saved_path);
  const absl::StatusOr<std::map<std::string, PodRecord>> reloaded = saved.Load();
  FUZZ_CHECK(reloaded.ok(), "what Save wrote does not load: %s",
             reloaded.status().ToString().c_str());
  FUZZ_CHECK(reloaded->size() == records->size(), "%zu records saved, %zu loaded back",
             records->size(), reloaded->size());
  FUZZ_CHECK(saved.Save(*reloaded).ok(), "Save failed");
  FUZZ_CHECK(fuzz::ReadScratchFile(saved_path) == first, "records changed through Save and Load");
}

}  // namespace
}  // namespace dpcni::dataplane

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dpcni::dataplane::Check(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
