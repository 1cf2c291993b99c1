// The C-node's options in one table: name, the shim's application env key,
// type, limits, one-line doc, and the Config field each one fills. The
// command line is parsed and validated from it, `--help` is printed from
// it, and `--schema` prints it as an Erlang module
// (erlang/src/partisan_config_schema.erl) that the shim validates against,
// so the shim cannot accept a value the C-node refuses.
//
// The default of an option bound to a Config field is that field's
// initializer in config.hpp (nothing else states it); the table reads it
// from a default-constructed Config.
#pragma once

#include "partisan/core/config.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace partisan {

enum class OptionType {
    integer,   // decimal digits, min..max
    one_of,    // one of `choices`
    string,    // free text, checked by the parser of that option
    repeated,  // a string given any number of times
};

struct OptionSpec {
    std::string_view name;  // on the command line, without "--"
    // The shim's application env key (partisan_config.erl) for this option;
    // empty when the shim never sets it (the C-node's default applies).
    std::string_view env;
    OptionType type = OptionType::string;
    bool required = false;
    uint64_t min = 0, max = 0;              // integer
    std::vector<std::string_view> choices;  // one_of
    std::string_view doc;
    // integer: read and write the Config field.
    uint64_t (*get_int)(const Config&) = nullptr;
    void (*set_int)(Config&, uint64_t) = nullptr;
    // one_of and string: likewise (empty: no default).
    std::string (*get_text)(const Config&) = nullptr;
    void (*set_text)(Config&, std::string_view) = nullptr;
    // string: what a valid value is (nullptr: anything).
    bool (*valid_text)(std::string_view) = nullptr;
};

// `greater` must exceed `lesser` (both integer options).
struct OptionRule {
    std::string_view greater;
    std::string_view lesser;
};

// Every option, in the order the shim passes them.
std::span<const OptionSpec> config_options();
const OptionSpec* find_option(std::string_view name);
std::span<const OptionRule> config_rules();

// Limits beyond single options.
constexpr size_t max_channels = 255;             // the default channel included (a byte on the wire)
constexpr size_t max_channel_name_bytes = 255;   // valid_channel_name (names.hpp)
// max_secret_bytes: config.hpp.

// The default of an option as it goes on the command line ("" if none).
std::string option_default(const OptionSpec& option);

// Checks `value` against the option's type and limits; an error message
// naming the option, or empty when valid. (repeated options are checked
// by their own parsers.)
std::string check_option(const OptionSpec& option, std::string_view value);

// An integer as the command line spells it: decimal digits only (no sign,
// no space), at most 19 of them.
std::optional<uint64_t> parse_decimal(std::string_view s);

// The schema as an Erlang module, `partisan_config_schema`
// (`partisan_cnode --schema`).
std::string schema_erlang_module();

}  // namespace partisan
