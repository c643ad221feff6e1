#include "agent/local/command_line_windows.h"

namespace reclaim::agent {

std::wstring QuoteWindowsArgument(std::wstring_view argument) {
  if (!argument.empty() && argument.find_first_of(L" \t\n\v\"") == std::wstring_view::npos) {
    return std::wstring(argument);
  }
  std::wstring out = L"\"";
  std::size_t backslashes = 0;
  for (const wchar_t c : argument) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    if (c == L'"') {
      // 2n+1 backslashes then the quote: n literal backslashes and a literal '"'.
      out.append(backslashes * 2 + 1, L'\\');
    } else {
      out.append(backslashes, L'\\');
    }
    backslashes = 0;
    out.push_back(c);
  }
  // Before the closing quote, backslashes are doubled so that it stays one.
  out.append(backslashes * 2, L'\\');
  out.push_back(L'"');
  return out;
}

std::wstring WindowsCommandLine(std::wstring_view program, const std::vector<std::wstring>& args) {
  std::wstring line = L"\"";
  line.append(program);
  line.push_back(L'"');
  for (const std::wstring& a : args) {
    line.push_back(L' ');
    line.append(QuoteWindowsArgument(a));
  }
  return line;
}

}  // namespace reclaim::agent
