// Strict TOML config files for CLI11-based mains: CLI11's own config reader
// silently skips lines it cannot parse, so a typo could go unnoticed. This
// reader parses the file with toml11 (a full TOML v1.0 parser) and reports any
// syntax error with its line and column; keys map to the long option names.
// Only main.cc files use it (flags and config are read only in main).
#pragma once

#include <cstdio>
#include <istream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/utf8.h"
#include "toml.hpp"

namespace reclaim {

class StrictTomlConfig : public CLI::ConfigBase {
 public:
  /// Parses `input`; throws CLI::ConfigError (a CLI::ParseError, which main
  /// turns into a message and exit code 2) on any TOML syntax error and on
  /// a file that is not well-formed UTF-8 (TOML v1.0 requires UTF-8; this is
  /// checked before toml11 sees the text because toml11 3.7.1 reads out of
  /// bounds while reporting an ill-formed sequence inside a string, found by
  /// tests/fuzz/toml_config_fuzzer).
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
    if (!IsValidUtf8(text)) {
      throw CLI::ConfigError("malformed config file: not valid UTF-8 (TOML files are UTF-8)");
    }
    toml::value root;
    try {
      std::istringstream in(text);
      root = toml::parse(in, "config file");
    } catch (const std::exception& e) {
      throw CLI::ConfigError(std::string("malformed config file: ") + e.what());
    }
    std::vector<CLI::ConfigItem> items;
    Flatten(root, {}, &items);
    return items;
  }

 private:
  static std::string Scalar(const toml::value& v) {
    if (v.is_string()) return v.as_string().str;
    if (v.is_boolean()) return v.as_boolean() ? "true" : "false";
    if (v.is_integer()) return std::to_string(v.as_integer());
    return toml::format(v);
  }

  static void Flatten(const toml::value& table, const std::vector<std::string>& parents,
                      std::vector<CLI::ConfigItem>* out) {
    for (const auto& [key, v] : table.as_table()) {
      if (v.is_table()) {
        std::vector<std::string> p = parents;
        p.push_back(key);
        Flatten(v, p, out);
        continue;
      }
      CLI::ConfigItem item;
      item.parents = parents;
      item.name = key;
      if (v.is_array()) {
        for (const auto& e : v.as_array()) item.inputs.push_back(Scalar(e));
      } else {
        item.inputs.push_back(Scalar(v));
      }
      out->push_back(std::move(item));
    }
  }
};

/// Installs the strict reader and `--config FILE` on `app`; unknown keys in
/// the file are errors.
inline void AddStrictConfig(CLI::App& app) {
  app.config_formatter(std::make_shared<StrictTomlConfig>());
  app.set_config("--config", "", "Config file (TOML; keys are the long option names)");
  app.allow_config_extras(CLI::config_extras_mode::error);
}

/// A subcommand's own `--config FILE` (CLI11 2.1 reads config files for the
/// top-level app only): adds the option to `sub` (in its --help), stored in
/// `*path`. A non-empty `*path` on entry is the default file, read only
/// when it exists. After parsing, call ApplySubcommandConfig.
inline CLI::Option* AddSubcommandConfig(CLI::App& sub, std::string* path) {
  return sub
      .add_option("--config", *path,
                  "Config file (TOML; keys are this command's long option names, the command "
                  "line wins)")
      ->capture_default_str();
}

/// Sets `sub`'s options that the command line did not set from the file
/// AddSubcommandConfig named (`config` is the option it returned, `path`
/// its value): as strict as StrictTomlConfig (syntax, UTF-8), and unknown
/// keys, tables and bad values are errors naming the file. A default file
/// that does not exist is skipped; one given with --config must exist.
/// Throws CLI::ConfigError or CLI::FileError (ReportParseError prints them,
/// exit code 2).
inline void ApplySubcommandConfig(CLI::App& sub, const CLI::Option& config,
                                  const std::string& path) {
  if (path.empty()) return;
  if (CLI::detail::check_path(path.c_str()) != CLI::detail::path_type::file) {
    if (config.count() == 0) return;  // the default file, not there
    throw CLI::FileError::Missing(path);
  }
  const std::string where = "config file " + path + ": ";
  StrictTomlConfig reader;
  std::vector<CLI::ConfigItem> items;
  try {
    items = reader.from_file(path);
  } catch (const CLI::ConfigError& e) {
    std::string msg = e.what();
    const std::string malformed = "malformed config file: ";
    if (msg.rfind(malformed, 0) == 0) msg = msg.substr(malformed.size());
    throw CLI::ConfigError(where + msg);
  }
  for (const CLI::ConfigItem& item : items) {
    CLI::Option* op = item.parents.empty() ? sub.get_option_no_throw("--" + item.name) : nullptr;
    if (op == nullptr || op == &config || !op->get_configurable()) {
      throw CLI::ConfigError(where + "unknown key '" + item.fullname() +
                             "' (keys are the long option names of `" + sub.get_name() + "`)");
    }
    if (op->count() > 0) continue;  // given on the command line
    try {
      if (op->get_expected_min() == 0) {  // a flag
        op->add_result(op->get_flag_value(item.name, reader.to_flag(item)));
      } else {
        op->add_result(item.inputs);
      }
      op->run_callback();
    } catch (const CLI::ParseError& e) {
      throw CLI::ConfigError(where + "'" + item.name + "': " + e.what());
    }
  }
}

/// Reports a CLI11 parse error on stderr (or prints the help text) and
/// returns the exit code: 0 for --help, 2 for an error. Config-file errors
/// name the file ("config file /etc/reclaim/agent.toml: unknown key
/// 'bogus'") instead of CLI11's "INI was not able to parse bogus"; other
/// errors say that the value may come from the config file when one was used.
inline int ReportParseError(CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == 0) return app.exit(e);  // --help
  std::string msg = e.what();
  std::string path;
  if (const CLI::Option* c = app.get_config_ptr(); c != nullptr && c->count() > 0) {
    path = c->as<std::string>();
  }
  const std::string extras = "INI was not able to parse ";
  const std::string malformed = "malformed config file: ";
  if (e.get_name() == "ConfigError" && !path.empty()) {
    if (msg.rfind(extras, 0) == 0) {
      msg = "unknown key '" + msg.substr(extras.size()) + "' (keys are the long option names)";
    } else if (msg.rfind(malformed, 0) == 0) {
      msg = msg.substr(malformed.size());
    }
    for (size_t at = msg.find("--> config file"); at != std::string::npos;
         at = msg.find("--> config file", at)) {
      msg.replace(at, 15, "--> " + path);
      at += 4 + path.size();
    }
    msg = "config file " + path + ": " + msg;
  } else if (!path.empty() && e.get_name() != "ConfigError") {
    msg += " (from the command line or config file " + path + ")";
  }
  std::fprintf(stderr, "%s: %s\nRun with --help for more information.\n", app.get_name().c_str(),
               msg.c_str());
  return 2;
}

}  // namespace reclaim
