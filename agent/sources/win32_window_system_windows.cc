#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h:
#include <winver.h>

#include <cstdio>
#include <map>

#include "agent/sources/win32_strings_windows.h"
#include "agent/sources/win32_window_system_windows.h"

namespace reclaim::agent {
namespace {

HWND ToHwnd(WindowHandle w) { return reinterpret_cast<HWND>(w); }

// GetPackageFamilyName (kernel32, Windows 8+; absent on Windows 7).
using GetPackageFamilyNameFn = LONG(WINAPI*)(HANDLE, UINT32*, PWSTR);

class Win32WindowSystem final : public WindowSystem {
 public:
  Win32WindowSystem() {
    if (HMODULE k32 = GetModuleHandleW(L"kernel32.dll")) {
      get_package_family_name_ = reinterpret_cast<GetPackageFamilyNameFn>(
          reinterpret_cast<void*>(GetProcAddress(k32, "GetPackageFamilyName")));
    }
  }

  std::uint32_t WindowProcessId(WindowHandle window) const override {
    DWORD pid = 0;
    if (GetWindowThreadProcessId(ToHwnd(window), &pid) == 0) return 0;
    return pid;
  }

  std::string WindowClass(WindowHandle window) const override {
    wchar_t buf[257];
    const int n = GetClassNameW(ToHwnd(window), buf, 257);
    return n > 0 ? Utf8FromWide(std::wstring_view(buf, static_cast<std::size_t>(n))) : "";
  }

  std::string WindowTitle(WindowHandle window) const override {
    // For another process's window this reads the cached caption without
    // sending WM_GETTEXT, so a hung application cannot block us.
    wchar_t buf[1025];
    const int n = GetWindowTextW(ToHwnd(window), buf, 1025);
    return n > 0 ? Utf8FromWide(std::wstring_view(buf, static_cast<std::size_t>(n))) : "";
  }

  std::vector<WindowHandle> ChildWindows(WindowHandle window) const override {
    std::vector<WindowHandle> out;
    HWND child = nullptr;
    // Direct children only; bounded in case windows are created meanwhile.
    while (out.size() < 4096 && (child = FindWindowExW(ToHwnd(window), child, nullptr, nullptr))) {
      out.push_back(reinterpret_cast<WindowHandle>(child));
    }
    return out;
  }

  std::optional<std::string> ProcessImagePath(std::uint32_t pid,
                                              ProcessAccess access) const override {
    const DWORD rights = access == ProcessAccess::kQueryLimitedInformation
                             ? PROCESS_QUERY_LIMITED_INFORMATION
                             : PROCESS_QUERY_INFORMATION | PROCESS_VM_READ;
    HANDLE h = OpenProcess(rights, FALSE, pid);
    if (h == nullptr) return std::nullopt;
    std::wstring buf(32768, L'\0');
    DWORD size = static_cast<DWORD>(buf.size());
    const BOOL ok = QueryFullProcessImageNameW(h, 0, buf.data(), &size);
    CloseHandle(h);
    if (!ok) return std::nullopt;
    buf.resize(size);
    return Utf8FromWide(buf);
  }

  std::string PackageFamilyName(std::uint32_t pid) const override {
    if (get_package_family_name_ == nullptr) return "";
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (h == nullptr) return "";
    wchar_t buf[256];
    UINT32 len = 256;
    const LONG rc = get_package_family_name_(h, &len, buf);
    CloseHandle(h);
    if (rc != ERROR_SUCCESS || len == 0) return "";  // APPMODEL_ERROR_NO_PACKAGE: not packaged
    return Utf8FromWide(std::wstring_view(buf, len - 1));
  }

  ProductVersion ReadProductVersion(const std::string& exe_path) const override {
    auto it = version_cache_.find(exe_path);
    if (it != version_cache_.end()) return it->second;
    if (version_cache_.size() >= 512) version_cache_.clear();
    return version_cache_[exe_path] = ReadUncached(WideFromUtf8(exe_path));
  }

 private:
  static ProductVersion ReadUncached(const std::wstring& path) {
    ProductVersion out;
    DWORD ignored = 0;
    const DWORD size = GetFileVersionInfoSizeW(path.c_str(), &ignored);
    if (size == 0) return out;
    std::vector<unsigned char> data(size);
    if (!GetFileVersionInfoW(path.c_str(), 0, size, data.data())) return out;
    // The first language/code page of the string table.
    struct Translation {
      WORD language;
      WORD code_page;
    }* tr = nullptr;
    UINT tr_len = 0;
    if (VerQueryValueW(data.data(), L"\\VarFileInfo\\Translation", reinterpret_cast<void**>(&tr),
                       &tr_len) &&
        tr_len >= sizeof(Translation)) {
      auto read = [&](const wchar_t* key) -> std::string {
        wchar_t sub[64];
        swprintf(sub, 64, L"\\StringFileInfo\\%04x%04x\\%ls", tr->language, tr->code_page, key);
        wchar_t* value = nullptr;
        UINT len = 0;
        if (!VerQueryValueW(data.data(), sub, reinterpret_cast<void**>(&value), &len) || len == 0)
          return "";
        std::wstring_view v(value, len);
        while (!v.empty() && v.back() == L'\0') v.remove_suffix(1);
        return Utf8FromWide(v);
      };
      out.product_name = read(L"ProductName");
      out.product_version = read(L"ProductVersion");
    }
    if (out.product_version.empty()) {
      VS_FIXEDFILEINFO* fixed = nullptr;
      UINT len = 0;
      if (VerQueryValueW(data.data(), L"\\", reinterpret_cast<void**>(&fixed), &len) &&
          len >= sizeof(VS_FIXEDFILEINFO) && fixed->dwSignature == 0xFEEF04BD) {
        char v[64];
        std::snprintf(v, sizeof v, "%lu.%lu.%lu.%lu",
                      static_cast<unsigned long>(HIWORD(fixed->dwProductVersionMS)),
                      static_cast<unsigned long>(LOWORD(fixed->dwProductVersionMS)),
                      static_cast<unsigned long>(HIWORD(fixed->dwProductVersionLS)),
                      static_cast<unsigned long>(LOWORD(fixed->dwProductVersionLS)));
        out.product_version = v;
      }
    }
    return out;
  }

  GetPackageFamilyNameFn get_package_family_name_ = nullptr;
  mutable std::map<std::string, ProductVersion> version_cache_;
};

}  // namespace

std::unique_ptr<WindowSystem> MakeWin32WindowSystem() {
  return std::make_unique<Win32WindowSystem>();
}

}  // namespace reclaim::agent
