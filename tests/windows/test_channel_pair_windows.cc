// A minimal LocalChannelPair / AdoptInheritedChannel (local_channel.h) for
// the relay process tests, until local_channel_windows.cc lands: a duplex
// named pipe with synchronous I/O. Tests only.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "agent/local/local_channel.h"
#include "agent/sources/win32_strings_windows.h"

namespace reclaim::agent {
namespace {

class PipeChannel final : public LocalChannel {
 public:
  explicit PipeChannel(HANDLE h) : h_(h) {}
  ~PipeChannel() override { CloseHandle(h_); }
  IpcStatus Read(void* buffer, std::size_t size, std::size_t* read) override {
    DWORD n = 0;
    *read = 0;
    if (!ReadFile(h_, buffer, static_cast<DWORD>(size), &n, nullptr)) {
      const DWORD e = GetLastError();
      if (e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED) return {};
      return {kIpcUnavailable, "ReadFile: " + Win32ErrorText(e)};
    }
    *read = n;
    return {};
  }
  IpcStatus WriteAll(const void* data, std::size_t size, std::chrono::milliseconds) override {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      DWORD n = 0;
      if (!WriteFile(h_, p, static_cast<DWORD>(size), &n, nullptr)) {
        return {kIpcUnavailable, "WriteFile: " + Win32ErrorText(GetLastError())};
      }
      p += n;
      size -= n;
    }
    return {};
  }
  void Shutdown() override { CancelIoEx(h_, nullptr); }
  void ShutdownWrite() override {}
  std::string Describe() const override { return "test pipe"; }
  std::string HandleForChild() override {
    SetHandleInformation(h_, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    return std::to_string(reinterpret_cast<std::uintptr_t>(h_));
  }

 private:
  HANDLE h_;
};

}  // namespace

IpcStatus LocalChannelPair(std::unique_ptr<LocalChannel>* first,
                           std::unique_ptr<LocalChannel>* second) {
  static std::atomic<int> counter{0};
  const std::wstring name = L"\\\\.\\pipe\\reclaim-test-pair-" +
                            std::to_wstring(GetCurrentProcessId()) + L"-" +
                            std::to_wstring(counter++);
  HANDLE server = CreateNamedPipeW(name.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
                                   PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 65536,
                                   65536, 0, nullptr);
  if (server == INVALID_HANDLE_VALUE) return {kIpcInternal, Win32ErrorText(GetLastError())};
  HANDLE client = CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                              OPEN_EXISTING, 0, nullptr);
  if (client == INVALID_HANDLE_VALUE) {
    CloseHandle(server);
    return {kIpcInternal, Win32ErrorText(GetLastError())};
  }
  *first = std::make_unique<PipeChannel>(server);
  *second = std::make_unique<PipeChannel>(client);
  return {};
}

IpcStatus AdoptInheritedChannel(const std::string& handle_text,
                                std::unique_ptr<LocalChannel>* channel) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(handle_text.c_str(), &end, 10);
  if (handle_text.empty() || *end != '\0') return {kIpcInvalidArgument, "not a number"};
  HANDLE h = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v));
  if (GetFileType(h) != FILE_TYPE_PIPE) return {kIpcInvalidArgument, "not a pipe"};
  *channel = std::make_unique<PipeChannel>(h);
  return {};
}

}  // namespace reclaim::agent
