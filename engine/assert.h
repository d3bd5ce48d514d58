// HAYATE_ASSERT: an invariant check that stays on in release builds. A failed assertion is a
// bug in hayate, never a reaction to bad input: it prints where and aborts.
#pragma once

namespace hayate::detail {
[[noreturn]] void assert_failed(const char* condition, const char* file, int line);
}  // namespace hayate::detail

#define HAYATE_ASSERT(condition)                                       \
  do {                                                                 \
    if (__builtin_expect(!(condition), 0)) {                           \
      ::hayate::detail::assert_failed(#condition, __FILE__, __LINE__); \
    }                                                                  \
  } while (0)
