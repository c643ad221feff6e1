// reclaimctl's output: the same rows as an aligned table (terminal safe),
// JSON (typed values) or CSV (RFC 4180).
#pragma once

#include <cstddef>
#include <iostream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace reclaim::ctl {

/// One result: column titles, the cells as text, and the typed rows for JSON.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<nlohmann::ordered_json> json_rows;  // typed values for --output json
};

/// A CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF.
std::string CsvField(const std::string& s);

/// A cell as it may go to a terminal: C0/C1 control characters, DEL and
/// invalid UTF-8 become U+FFFD (no cursor movement or colour injection).
std::string TerminalSafe(const std::string& cell);

/// Terminal columns taken by valid UTF-8 `s` (wcwidth(3) per code point: 2
/// for East Asian wide characters, 0 for combining marks, 1 when unknown).
size_t DisplayWidth(const std::string& s);

/// Writes `t` to `os` as "table" (aligned by display width, "(no rows)" when
/// empty), "json" (an array of t.json_rows) or "csv" (CRLF line ends).
void Print(const Table& t, const std::string& format, std::ostream& os = std::cout);

}  // namespace reclaim::ctl
