#include "collector/ctl/table.h"

#include <locale.h>
#include <wchar.h>

#include <algorithm>
#include <cwchar>
#include <ostream>

#include "common/utf8.h"

namespace reclaim::ctl {

// RFC 4180 field quoting.
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

/// A table cell as it may go to a terminal: C0/C1 control characters and
/// DEL (which could move the cursor or recolour the screen) become
/// U+FFFD; invalid UTF-8 becomes U+FFFD too.
std::string TerminalSafe(const std::string& cell) {
  const std::string valid = reclaim::SanitizeUtf8(cell);
  std::string out;
  out.reserve(valid.size());
  for (size_t i = 0; i < valid.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(valid[i]);
    if (c < 0x20 || c == 0x7f) {
      out += "\xEF\xBF\xBD";
    } else if (c == 0xC2 && i + 1 < valid.size() &&
               static_cast<unsigned char>(valid[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(valid[i + 1]) <= 0x9F) {
      out += "\xEF\xBF\xBD";  // C1 control (U+0080-U+009F)
      ++i;
    } else {
      out += valid[i];
    }
  }
  return out;
}

/// Terminal columns taken by valid UTF-8 `s`: wcwidth(3) per code point
/// (2 for East Asian wide characters, 0 for combining marks), so names like
/// "jürgen" or "山田" line up. Falls back to 1 per code point when the C
/// library does not know the character.
size_t DisplayWidth(const std::string& s) {
  static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  size_t width = 0;
  std::mbstate_t state{};
  const char* p = s.data();
  const char* end = s.data() + s.size();
  while (p < end) {
    wchar_t wc = 0;
    locale_t old = utf8 ? uselocale(utf8) : static_cast<locale_t>(0);
    const size_t n = std::mbrtowc(&wc, p, static_cast<size_t>(end - p), &state);
    const int w = (n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2)) ? -1 : ::wcwidth(wc);
    if (utf8) uselocale(old);
    if (n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2) || n == 0) {
      ++p;
      ++width;
      state = std::mbstate_t{};
      continue;
    }
    p += n;
    width += w < 0 ? 1 : static_cast<size_t>(w);
  }
  return width;
}

void Print(const Table& t, const std::string& format, std::ostream& os) {
  if (format == "json") {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& r : t.json_rows) arr.push_back(r);
    os << arr.dump(2) << "\n";
    return;
  }
  if (format == "csv") {
    for (size_t i = 0; i < t.columns.size(); ++i) {
      os << (i ? "," : "") << CsvField(t.columns[i]);
    }
    os << "\r\n";
    for (const auto& r : t.rows) {
      for (size_t i = 0; i < r.size(); ++i) os << (i ? "," : "") << CsvField(r[i]);
      os << "\r\n";
    }
    return;
  }
  std::vector<size_t> width(t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) width[i] = DisplayWidth(t.columns[i]);
  for (const auto& r : t.rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], DisplayWidth(TerminalSafe(r[i])));
  }
  auto line = [&](const std::vector<std::string>& raw) {
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      const std::string cell = TerminalSafe(raw[i]);
      out += cell;
      if (i + 1 < raw.size()) out += std::string(width[i] - DisplayWidth(cell) + 2, ' ');
    }
    os << out << "\n";
  };
  line(t.columns);
  for (const auto& r : t.rows) line(r);
  if (t.rows.empty()) os << "(no rows)\n";
}

}  // namespace reclaim::ctl
