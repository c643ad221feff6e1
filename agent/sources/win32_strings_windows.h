// UTF-16 <-> UTF-8 for the Win32 layer. Standard C++ types only; implemented
// in win32_strings_windows.cc (WideCharToMultiByte / MultiByteToWideChar).
#pragma once

#include <string>
#include <string_view>

namespace reclaim::agent {

/// UTF-8 of a UTF-16 string; unpaired surrogates become U+FFFD.
std::string Utf8FromWide(std::wstring_view wide);
/// UTF-16 of a UTF-8 string; ill-formed sequences become U+FFFD.
std::wstring WideFromUtf8(std::string_view utf8);

/// A Win32 error code for messages: "error 32: The process cannot access the
/// file because it is being used by another process." (FormatMessageW with
/// FORMAT_MESSAGE_FROM_SYSTEM,
/// https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-formatmessagew;
/// the number alone when the system has no text for it).
std::string Win32ErrorText(unsigned long error);

}  // namespace reclaim::agent
