// The browser bridge's half over a LocalListener (browser_bridge_local.h, the
// Windows twin's logic) with an in-memory listener: what reaches the sink,
// which peers are refused (another user when it connects, a user the OS
// attests differently after the first bytes, one connection too many), an
// unframed stream, and Stop() with live connections. The real named pipe is
// exercised under Wine (tests/windows/browser_pipe_windows_test.cc).
#include "agent/browser/browser_bridge_local.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "absl/synchronization/mutex.h"
#include "agent/browser/frame_reader.h"
#include "gtest/gtest.h"
#include "tests/testing/queued_listener.h"
#include "tests/testing/wait_for.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kMe[] = "S-1-5-21-1-2-3-1001";
constexpr char kOther[] = "S-1-5-21-1-2-3-1002";

// One connection's two ends: the test writes as the host, the bridge reads.
struct Wire {
  std::mutex mu;
  std::condition_variable cv;
  std::string inbound;
  bool host_closed = false;
  bool shut = false;  // the bridge shut its end
  std::size_t read_total = 0;

  void Send(const std::string& bytes) {
    std::lock_guard<std::mutex> l(mu);
    inbound += bytes;
    cv.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> l(mu);
    host_closed = true;
    cv.notify_all();
  }
  bool IsShut() {
    std::lock_guard<std::mutex> l(mu);
    return shut;
  }
};

class FakeChannel final : public ServerChannel {
 public:
  FakeChannel(std::shared_ptr<Wire> wire, LocalPeer at_connect, LocalPeer attested,
              IpcStatus peer_status)
      : wire_(std::move(wire)),
        at_connect_(std::move(at_connect)),
        attested_(std::move(attested)),
        peer_status_(std::move(peer_status)) {}
  IpcStatus Read(void* buffer, std::size_t size, std::size_t* read) override {
    std::unique_lock<std::mutex> l(wire_->mu);
    wire_->cv.wait(l, [&] { return !wire_->inbound.empty() || wire_->host_closed || wire_->shut; });
    *read = 0;
    if (wire_->shut || wire_->inbound.empty()) return {};
    *read = std::min(size, wire_->inbound.size());
    std::memcpy(buffer, wire_->inbound.data(), *read);
    wire_->inbound.erase(0, *read);
    wire_->read_total += *read;
    return {};
  }
  IpcStatus WriteAll(const void*, std::size_t, milliseconds) override { return {}; }
  void Shutdown() override {
    std::lock_guard<std::mutex> l(wire_->mu);
    wire_->shut = true;
    wire_->cv.notify_all();
  }
  void ShutdownWrite() override {}
  std::string Describe() const override { return "fake"; }
  std::string HandleForChild() override { return ""; }
  IpcStatus PeerAtConnect(LocalPeer* peer) override {
    *peer = at_connect_;
    return peer_status_;
  }
  IpcStatus AttestPeer(LocalPeer* peer) override {
    std::lock_guard<std::mutex> l(wire_->mu);
    if (wire_->read_total == 0) return {kIpcFailedPrecondition, "nothing read yet"};
    *peer = attested_;
    return peer_status_;
  }

 private:
  std::shared_ptr<Wire> wire_;
  const LocalPeer at_connect_, attested_;
  const IpcStatus peer_status_;
};

class FakeListener final : public testing::QueuedListener {
 public:
  FakeListener() : QueuedListener("fake") {}
  // Hands the bridge a connection of a host with process id `pid`, which
  // connects as `at_connect` and is attested as `attested` (both calls
  // returning `peer_status`).
  std::shared_ptr<Wire> Connect(std::int64_t pid, const std::string& at_connect,
                                const std::string& attested, IpcStatus peer_status = {}) {
    auto wire = std::make_shared<Wire>();
    LocalPeer a;
    a.key = at_connect;
    a.pid = pid;
    LocalPeer b = a;
    b.key = attested;
    Push(std::make_unique<FakeChannel>(wire, a, b, peer_status));
    return wire;
  }
};

std::string State(const std::string& host) {
  return EncodeFrame(R"({"v":1,"type":"state","focused":1,"windows":[{"id":1,"origin":"https://)" +
                     host + R"("}]})");
}

class BrowserBridgeLocalTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (bridge_) bridge_->Stop();
  }
  void Start(int max_connections = 32) {
    auto listener = std::make_unique<FakeListener>();
    listener_ = listener.get();
    BrowserBridgeOptions o;
    o.socket_path = "fake";
    o.max_connections = max_connections;
    auto b = StartLocalBrowserBridge(
        o,
        [this](std::int64_t pid, const std::optional<WebBrowserState>& state) {
          absl::MutexLock l(&mu_);
          updates_.push_back({pid, state ? state->FocusedHost() : "<gone>"});
        },
        std::move(listener), {.user_key = kMe, .browser_of_host = [](std::int64_t pid) {
                                return pid + 1000;  // "the host's parent"
                              }});
    ASSERT_TRUE(b.ok()) << b.status();
    bridge_ = *std::move(b);
  }
  std::vector<std::pair<std::int64_t, std::string>> Updates() {
    absl::MutexLock l(&mu_);
    return updates_;
  }
  bool Wait(const std::function<bool()>& pred) {
    return reclaim::testing::WaitFor(pred, seconds(10), milliseconds(5));
  }

  FakeListener* listener_ = nullptr;
  std::unique_ptr<BrowserBridge> bridge_;
  absl::Mutex mu_;
  std::vector<std::pair<std::int64_t, std::string>> updates_;
};

TEST_F(BrowserBridgeLocalTest, ReportsStatesOfThisUsersHostsAndTheirEnd) {
  Start();
  auto wire = listener_->Connect(7, kMe, kMe);
  // A state split across writes, then a malformed one, then another state.
  const std::string a = State("a.example.test");
  wire->Send(a.substr(0, 5));
  wire->Send(a.substr(5) + EncodeFrame("not json") + State("b.example.test"));
  ASSERT_TRUE(Wait([&] { return Updates().size() == 2; }));
  EXPECT_EQ(Updates()[0], std::make_pair(std::int64_t{1007}, std::string("a.example.test")));
  EXPECT_EQ(Updates()[1].second, "b.example.test");
  wire->Close();
  ASSERT_TRUE(Wait([&] { return Updates().size() == 3; }));
  EXPECT_EQ(Updates()[2], std::make_pair(std::int64_t{1007}, std::string("<gone>")));
  const BrowserBridgeStats s = bridge_->stats();
  EXPECT_EQ(s.connections, 1u);
  EXPECT_EQ(s.messages, 2u);
  EXPECT_EQ(s.malformed, 1u);
  EXPECT_EQ(s.refused_peers, 0u);
}

TEST_F(BrowserBridgeLocalTest, RefusesAnotherUserAtConnectAndWhenAttested) {
  Start();
  auto other = listener_->Connect(8, kOther, kOther);
  ASSERT_TRUE(Wait([&] { return other->IsShut(); }));
  // Claims this user when it connects; the OS attests someone else.
  auto spoof = listener_->Connect(9, kMe, kOther);
  spoof->Send(State("evil.example.test"));
  ASSERT_TRUE(Wait([&] { return spoof->IsShut(); }));
  EXPECT_EQ(bridge_->stats().refused_peers, 2u);
  EXPECT_EQ(bridge_->stats().connections, 0u);
  // This user's host is still served afterwards.
  auto mine = listener_->Connect(10, kMe, kMe);
  mine->Send(State("ok.example.test"));
  ASSERT_TRUE(Wait([&] { return Updates().size() == 1; }));
  EXPECT_EQ(Updates()[0].second, "ok.example.test");
  EXPECT_EQ(bridge_->stats().messages, 1u);
}

// Linux: a uid without a passwd entry is NOT_FOUND with its key filled in;
// the bridge needs only the key. A failure without a key is refused.
TEST_F(BrowserBridgeLocalTest, APeerWithoutAccountNameIsJudgedByItsKey) {
  Start();
  auto nameless = listener_->Connect(20, kMe, kMe, {kIpcNotFound, "uid 1001 has no passwd entry"});
  nameless->Send(State("a.example.test"));
  ASSERT_TRUE(Wait([&] { return Updates().size() == 1; }));
  auto unknown = listener_->Connect(21, "", "", {kIpcInternal, "SO_PEERCRED: bad"});
  ASSERT_TRUE(Wait([&] { return unknown->IsShut(); }));
  EXPECT_EQ(bridge_->stats().refused_peers, 1u);
}

TEST_F(BrowserBridgeLocalTest, AnUnframedStreamIsClosedAndOthersGoOn) {
  Start();
  auto bad = listener_->Connect(11, kMe, kMe);
  auto good = listener_->Connect(12, kMe, kMe);
  bad->Send(State("a.example.test") + std::string("\xff\xff\xff\xf0", 4));
  ASSERT_TRUE(Wait([&] { return bad->IsShut(); }));
  EXPECT_EQ(bridge_->stats().broken_streams, 1u);
  good->Send(State("b.example.test"));
  ASSERT_TRUE(Wait([&] { return Updates().size() == 3; }));  // a, a gone, b
  EXPECT_EQ(Updates()[1], std::make_pair(std::int64_t{1011}, std::string("<gone>")));
  EXPECT_EQ(Updates()[2], std::make_pair(std::int64_t{1012}, std::string("b.example.test")));
  EXPECT_FALSE(good->IsShut());
}

TEST_F(BrowserBridgeLocalTest, OneConnectionTooManyIsRefused) {
  Start(/*max_connections=*/2);
  auto one = listener_->Connect(13, kMe, kMe);
  auto two = listener_->Connect(14, kMe, kMe);
  auto three = listener_->Connect(15, kMe, kMe);
  ASSERT_TRUE(Wait([&] { return three->IsShut(); }));
  EXPECT_FALSE(one->IsShut());
  EXPECT_FALSE(two->IsShut());
  EXPECT_EQ(bridge_->stats().refused_peers, 1u);
  // A slot frees when a host goes; the next one is served.
  one->Close();
  ASSERT_TRUE(Wait([&] { return one->IsShut(); }));
  auto four = listener_->Connect(16, kMe, kMe);
  four->Send(State("four.example.test"));
  ASSERT_TRUE(Wait([&] { return Updates().size() == 1; }));
  EXPECT_EQ(Updates()[0].first, 1016);
}

TEST_F(BrowserBridgeLocalTest, StopEndsLiveConnectionsWithoutReports) {
  Start();
  auto wire = listener_->Connect(17, kMe, kMe);
  wire->Send(State("a.example.test"));
  ASSERT_TRUE(Wait([&] { return Updates().size() == 1; }));
  bridge_->Stop();
  EXPECT_TRUE(wire->IsShut());
  EXPECT_EQ(Updates().size(), 1u);  // no "gone" report from Stop()
}

TEST(BrowserBridgeLocalStartTest, NeedsAListenerAndAUser) {
  EXPECT_EQ(StartLocalBrowserBridge({}, nullptr, nullptr, {.user_key = kMe, .browser_of_host = {}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StartLocalBrowserBridge({}, nullptr, std::make_unique<FakeListener>(), {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reclaim::agent
