#include "agent/local/relay_connector.h"

#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/local/local_channel_status.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

// A file's current version: its modification time (nanoseconds on Linux,
// 100 ns on Windows; a credential written by WriteSecretFile is a new file)
// and size, or nullopt when it does not exist.
using FileVersionT = std::pair<std::filesystem::file_time_type, std::uintmax_t>;
std::optional<FileVersionT> FileVersion(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return std::nullopt;
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) return std::nullopt;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return std::nullopt;
  return std::make_pair(mtime, size);
}

class RelayConnector final : public LocalConnector {
 public:
  RelayConnector(std::unique_ptr<RelaySpawner> spawner, RelayConnectorOptions options)
      : spawner_(std::move(spawner)),
        options_(std::move(options)),
        enroll_pending_(options_.enroll),
        credential_at_start_(FileVersion(options_.credential_file)) {}

  ~RelayConnector() override {
    if (relay_) relay_->Finish(std::chrono::milliseconds(0));
  }

  absl::StatusOr<std::unique_ptr<LocalChannel>> Connect() override {
    if (relay_) Closed(false);  // not expected: Closed() ends every relay
    std::vector<std::string> args = {"relay", "--fd", "{fd}"};
    args.insert(args.end(), options_.relay_args.begin(), options_.relay_args.end());
    if (enroll_pending_) args.push_back("--enroll");
    std::unique_ptr<RelayProcess> relay;
    if (IpcStatus s = spawner_->Spawn(args, &relay); !s.ok()) return ToStatus(s);
    relay_ = std::move(relay);
    spdlog::debug("started {} relay (pid {})", spawner_->program(), relay_->pid());
    std::unique_ptr<LocalChannel> channel = relay_->TakeChannel();
    if (!channel) return absl::InternalError("the relay's channel was taken already");
    return channel;
  }

  std::string Closed(bool clean) override {
    if (!relay_) return "";
    const long pid = relay_->pid();
    const std::string how = relay_->Finish(options_.exit_grace);
    relay_.reset();
    if (enroll_pending_ && FileVersion(options_.credential_file) != credential_at_start_) {
      enroll_pending_ = false;  // enrolled: the next relays use the new credential
    }
    if (clean && how == "exited with status 0") return "";
    spdlog::warn("reclaim-agent-service relay (pid {}) {}{}", pid, how,
                 clean ? "" : " without ending its stream; a new relay starts after the backoff");
    return absl::StrCat("relay ", how);
  }

  void Interrupt() override {}

  std::string Describe() const override {
    return absl::StrCat("collector ", options_.collector);  // the relay is an implementation detail
  }

  std::string AuthHint() const override {
    return "to enroll again, restart the agent with --enroll and the enrollment secret";
  }

 private:
  const std::unique_ptr<RelaySpawner> spawner_;
  const RelayConnectorOptions options_;
  bool enroll_pending_;
  const std::optional<FileVersionT> credential_at_start_;
  std::unique_ptr<RelayProcess> relay_;
};

}  // namespace

std::unique_ptr<LocalConnector> MakeRelayConnector(std::unique_ptr<RelaySpawner> spawner,
                                                   RelayConnectorOptions options) {
  return std::make_unique<RelayConnector>(std::move(spawner), std::move(options));
}

}  // namespace reclaim::agent
