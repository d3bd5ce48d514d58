// The option walker the hayate commands share: `--name value`, `--name=value`, flags and
// operands, in any order. Each command lists its options with what to do with each; the
// walker says what is unknown or missing, naming the command.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hayate::campaign::cli {

// What a step of the walk returns: empty when all is well, else the usage error to print.
using ArgumentResult = std::string;

struct Option {
  std::string_view name;  // "--out", or a short form such as "-q" (no "=value" for those)
  // Empty: a flag. Otherwise the option takes a value and this is the message when the value is
  // missing ("--out needs a directory").
  std::string_view missing_value;
  std::function<ArgumentResult(std::string_view value)> apply;  // value is empty for a flag
};

// Walks `args` in order, calling each option's apply and `on_operand` for the other words
// (any word starting with '-' is an option), and stops at the first problem: an unknown option
// ("unknown option for COMMAND: --frob"), a missing value, a value given to a flag, or what
// apply or on_operand returned. Empty when every word was taken.
ArgumentResult walk_arguments(std::string_view command, std::span<const std::string_view> args,
                              std::span<const Option> options,
                              const std::function<ArgumentResult(std::string_view)>& on_operand);

// `--name=value` as two words, `--name` and `value`, for the options `takes_value` names, up to
// a "--" (after it every word is an operand). For the commands with parsers of their own
// (suppress, bounces), so that they read both forms as walk_arguments does. The views point
// into `args`' strings.
std::vector<std::string_view> split_option_values(
    std::span<const std::string_view> args,
    const std::function<bool(std::string_view name)>& takes_value);

// Whether `args` ask for help (--help or -h anywhere): help wins over every mistake.
bool wants_help(std::span<const std::string_view> args);

}  // namespace hayate::campaign::cli
