#include "pods/queued_deletes.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "dpcni/v1/dpcni.pb.h"
#include "pods/pod_manager.h"
#include "pods/pod_record.h"

namespace dpcni::dataplane {

std::string QueuedDeletesReplay::Summary() const {
  return absl::StrCat(applied, " applied, ", gone, " gone, ", stale, " stale, ", failures.size(),
                      " failed");
}

QueuedDeletesReplay ReplayQueuedDeletes(const std::string& dir, const QueuedDeleteTarget& target) {
  QueuedDeletesReplay replay;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    // Temporary files of a plugin still writing (or killed while writing) end otherwise.
    if (entry.path().extension() == ".del") files.push_back(entry.path());
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    replay.failures.push_back(absl::StrCat("cannot list ", dir, ": ", ec.message()));
    return replay;
  }
  std::sort(files.begin(), files.end());
  for (const std::filesystem::path& file : files) {
    const std::string path = file.string();
    auto remove = [&] {
      std::error_code removed;
      if (!std::filesystem::remove(file, removed) && removed) {
        replay.failures.push_back(absl::StrCat("cannot remove ", path, ": ", removed.message()));
      }
    };
    absl::StatusOr<std::string> content = ReadFile(path);
    v1::QueuedDelete queued;
    if (!content.ok() || !queued.ParseFromString(*content) ||
        queued.request().attachment().container_id().empty() ||
        queued.request().attachment().ifname().empty()) {
      replay.failures.push_back(absl::StrCat(
          path, " is not a queued DEL (",
          content.ok() ? "no attachment in it" : content.status().message(), "): removed"));
      remove();
      continue;
    }
    const v1::Attachment& attachment = queued.request().attachment();
    const std::optional<int64_t> added =
        target.added_unix_nanos(attachment.container_id(), attachment.ifname());
    if (!added.has_value()) {
      ++replay.gone;
    } else if (*added > queued.queued_unix_nanos()) {
      ++replay.stale;
    } else if (absl::Status deleted = target.del(attachment.container_id(), attachment.ifname(),
                                                 attachment.netns_path());
               !deleted.ok()) {
      replay.failures.push_back(
          absl::StrCat("DEL of ", attachment.container_id(), "/", attachment.ifname(),
                       " failed (kept for the next start): ", deleted.message()));
      continue;
    } else {
      ++replay.applied;
    }
    remove();
  }
  return replay;
}

QueuedDeletesReplay ReplayQueuedDeletes(const std::string& dir, PodManager& pods) {
  std::map<std::string, int64_t> added;
  for (const PodRecord& record : pods.List()) added[record.Key()] = record.added_unix_nanos;
  return ReplayQueuedDeletes(
      dir, QueuedDeleteTarget{
               .added_unix_nanos = [&](const std::string& container_id,
                                       const std::string& ifname) -> std::optional<int64_t> {
                 auto found = added.find(PodRecord::AttachmentKey(container_id, ifname));
                 if (found == added.end()) return std::nullopt;
                 return found->second;
               },
               .del =
                   [&](const std::string& container_id, const std::string& ifname,
                       const std::string& netns_path) {
                     return pods.Delete(container_id, ifname, netns_path);
                   },
           });
}

}  // namespace dpcni::dataplane
