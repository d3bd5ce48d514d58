// The option walker of the hayate commands (see command_line.h).
#include "campaign/cli/command_line.h"

#include <algorithm>

#include "engine/strings.h"

namespace hayate::campaign::cli {

ArgumentResult walk_arguments(std::string_view command, std::span<const std::string_view> args,
                              std::span<const Option> options,
                              const std::function<ArgumentResult(std::string_view)>& on_operand) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view word = args[i];
    if (word.empty() || word.front() != '-') {
      if (ArgumentResult error = on_operand(word); !error.empty()) return error;
      continue;
    }
    // "--name=value": the value is attached; "-q" and the like never take one.
    const std::size_t equals = word.starts_with("--") ? word.find('=') : std::string_view::npos;
    const std::string_view name = word.substr(0, equals);
    const auto option = std::find_if(options.begin(), options.end(),
                                     [&](const Option& known) { return known.name == name; });
    if (option == options.end()) return cat("unknown option for ", command, ": ", word);
    std::string_view value;
    if (equals != std::string_view::npos) {
      if (option->missing_value.empty()) return cat(name, " takes no value");
      value = word.substr(equals + 1);
    } else if (!option->missing_value.empty()) {
      if (i + 1 == args.size()) return std::string(option->missing_value);
      value = args[++i];  // taken as it is, even when it starts with '-'
    }
    if (ArgumentResult error = option->apply(value); !error.empty()) return error;
  }
  return {};
}

bool wants_help(std::span<const std::string_view> args) {
  return std::any_of(args.begin(), args.end(),
                     [](std::string_view arg) { return arg == "--help" || arg == "-h"; });
}

std::vector<std::string_view> split_option_values(
    std::span<const std::string_view> args,
    const std::function<bool(std::string_view name)>& takes_value) {
  std::vector<std::string_view> out;
  bool operands_only = false;
  for (std::string_view arg : args) {
    const std::size_t equals = arg.find('=');
    if (!operands_only && arg.starts_with("--") && equals != std::string_view::npos &&
        takes_value(arg.substr(0, equals))) {
      out.push_back(arg.substr(0, equals));
      out.push_back(arg.substr(equals + 1));
      continue;
    }
    if (arg == "--") operands_only = true;
    out.push_back(arg);
  }
  return out;
}

}  // namespace hayate::campaign::cli
