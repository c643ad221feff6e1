// A Windows command line from an argument vector, quoted so that the
// Microsoft C runtime's argv parsing and CommandLineToArgvW give back the
// same arguments. Standard C++ only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace reclaim::agent {

/// One argument after the program name, quoted per the MSVCRT rules
/// ("Parsing C++ command-line arguments",
/// https://learn.microsoft.com/cpp/cpp/main-function-command-line-args;
/// CommandLineToArgvW,
/// https://learn.microsoft.com/windows/win32/api/shellapi/nf-shellapi-commandlinetoargvw):
/// unchanged when it is not empty and has no space, tab, newline, vertical
/// tab or '"'; else in quotes, where 2n backslashes before a '"' become
/// 2n+1 plus the '"' and backslashes at the end are doubled (n backslashes
/// not before a '"' are literal).
std::wstring QuoteWindowsArgument(std::wstring_view argument);

/// The full command line: the program in quotes (the first token is parsed
/// without backslash escapes, and a path cannot contain '"'), then each
/// argument quoted by QuoteWindowsArgument, separated by one space.
std::wstring WindowsCommandLine(std::wstring_view program, const std::vector<std::wstring>& args);

}  // namespace reclaim::agent
