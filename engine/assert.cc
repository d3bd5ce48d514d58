// Out-of-line failure path of HAYATE_ASSERT, kept cold so the check costs one branch.
#include "engine/assert.h"

#include <cstdio>
#include <cstdlib>

namespace hayate::detail {
void assert_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "hayate: internal error: assertion '%s' failed at %s:%d\n", condition, file,
               line);
  std::abort();
}
}  // namespace hayate::detail
