// A real collector stack in the test process: SQLite store in a temp dir,
// ingest pipeline, campaign store and prompt router, agent and admin services
// on a gRPC server at 127.0.0.1:0 (plaintext; with `options.devices` set,
// streams are authenticated and the admin service revokes through it). The
// admin API needs tokens like the real collector: AuthorizeAdmin() adds one
// of a given role to a call.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "collector/admin/admin_auth.h"
#include "collector/campaigns/prompt_router.h"
#include "collector/campaigns/sqlite_campaign_store.h"
#include "collector/server/services.h"
#include "collector/store/sqlite_usage_store.h"
#include "common/clock.h"

namespace reclaim::testing {

class TestCollector {
 public:
  /// Starts the stack with its database at `db_path`. Check ok() afterwards.
  /// Makes the store the ingest pipeline writes to from the real one (a
  /// fault-injecting wrapper, for instance); reports still read the real one.
  using StoreWrapper =
      std::function<std::unique_ptr<collector::UsageStore>(collector::UsageStore& real)>;

  explicit TestCollector(const std::string& db_path,
                         collector::AgentServiceOptions options = {},
                         int max_message_bytes = 4 << 20, StoreWrapper wrap = nullptr)
      : db_path_(db_path), options_(options), max_message_bytes_(max_message_bytes),
        wrap_(std::move(wrap)) {
    Start();
  }
  ~TestCollector() { Stop(); }

  /// (Re)starts on the same port when it had one before.
  void Start() {
    auto store = collector::SqliteUsageStore::Open({.path = db_path_});
    if (!store.ok()) return;
    store_ = std::move(*store);
    auto campaigns = collector::SqliteCampaignStore::Open(db_path_);
    if (!campaigns.ok()) return;
    campaigns_ = std::move(*campaigns);
    auto tokens = collector::SqliteAdminTokenStore::Open(db_path_);
    if (!tokens.ok()) return;
    admin_tokens_ = std::move(*tokens);
    ingest_store_ = wrap_ ? wrap_(*store_) : nullptr;
    pipeline_ = std::make_unique<collector::IngestPipeline>(
        ingest_store_ ? *ingest_store_ : *store_, clock_);
    agent_service_ =
        collector::MakeAgentService(*pipeline_, clock_, options_, campaigns_.get(), &router_);
    admin_service_ =
        collector::MakeAdminService(*store_, *admin_tokens_, nullptr, campaigns_.get(), &clock_, &router_,
                                    options_.devices);
    admin_service_->SetAgentChannel(agent_service_.get(), pipeline_.get());
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(max_message_bytes_);
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port_),
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(agent_service_->service());
    builder.RegisterService(admin_service_->service());
    server_ = builder.BuildAndStart();
  }

  /// Stops the server (cancelling streams) and closes the store.
  void Stop() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    if (pipeline_) pipeline_->Stop();
    server_.reset();
    agent_service_.reset();
    admin_service_.reset();
    pipeline_.reset();
    campaigns_.reset();
    ingest_store_.reset();
    admin_tokens_.reset();
    store_.reset();
  }

  /// An admin token of `role` (created on first use, named "test-<role>").
  /// Empty when the store failed.
  std::string AdminToken(collector::AdminRole role) {
    std::string& token = tokens_by_role_[role];
    if (token.empty() && admin_tokens_) {
      auto issued = admin_tokens_->Create(
          std::string("test-") + collector::AdminRoleName(role), role, clock_.WallUtcMs());
      if (issued.ok()) token = issued->token;
    }
    return token;
  }

  /// Adds an admin token of `role` to `ctx` (default: admin).
  void AuthorizeAdmin(grpc::ClientContext* ctx,
                      collector::AdminRole role = collector::AdminRole::kAdmin) {
    ctx->AddMetadata("authorization", "Bearer " + AdminToken(role));
  }

  bool ok() const { return server_ != nullptr && port_ != 0; }
  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  collector::SqliteUsageStore& store() { return *store_; }
  /// The store the pipeline writes to (the wrapper when one was given).
  collector::UsageStore& ingest_store() { return ingest_store_ ? *ingest_store_ : *store_; }
  collector::AgentServiceHandle& agent_service() { return *agent_service_; }
  collector::IngestPipeline& pipeline() { return *pipeline_; }
  collector::SqliteCampaignStore& campaigns() { return *campaigns_; }
  collector::SqliteAdminTokenStore& admin_tokens() { return *admin_tokens_; }
  collector::PromptRouter& router() { return router_; }
  collector::AgentServiceStats agent_stats() const { return agent_service_->stats(); }

 private:
  std::string db_path_;
  collector::AgentServiceOptions options_;
  int max_message_bytes_;
  StoreWrapper wrap_;
  SystemClock clock_;
  int port_ = 0;
  std::unique_ptr<collector::SqliteUsageStore> store_;
  std::unique_ptr<collector::UsageStore> ingest_store_;
  std::unique_ptr<collector::SqliteCampaignStore> campaigns_;
  std::unique_ptr<collector::SqliteAdminTokenStore> admin_tokens_;
  std::map<collector::AdminRole, std::string> tokens_by_role_;
  collector::PromptRouter router_;
  std::unique_ptr<collector::IngestPipeline> pipeline_;
  std::unique_ptr<collector::AgentServiceHandle> agent_service_;
  std::unique_ptr<collector::AdminServiceHandle> admin_service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace reclaim::testing
