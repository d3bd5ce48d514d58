// Tests of engine/ring.h's io_uring_setup_error: a ring refused by seccomp or by the
// kernel.io_uring_disabled sysctl must say so and what to change, not only "Operation not
// permitted"; other errors keep the system's text.
#include "engine/ring.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace hayate {
namespace {

TEST(IoUringSetupError, BlockedNamesTheSystemCallsAndTheSysctl) {
  const std::string message = io_uring_setup_error(EPERM);
  EXPECT_EQ(message.rfind("io_uring is blocked (EPERM): in a container, allow the io_uring_setup, "
                          "io_uring_enter and io_uring_register system calls in its seccomp "
                          "profile (docker: --security-opt seccomp=",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("on the host, check sysctl kernel.io_uring_disabled"), std::string::npos)
      << message;
}

TEST(IoUringSetupError, MissingSaysTheSameAndNamesTheKernelOption) {
  const std::string message = io_uring_setup_error(ENOSYS);
  EXPECT_EQ(message.rfind("io_uring is not available (ENOSYS): in a container, allow the "
                          "io_uring_setup, io_uring_enter and io_uring_register system calls",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("kernel.io_uring_disabled"), std::string::npos) << message;
  EXPECT_NE(message.find("CONFIG_IO_URING"), std::string::npos) << message;
}

TEST(IoUringSetupError, OtherErrorsKeepTheSystemText) {
  EXPECT_EQ(io_uring_setup_error(ENOMEM), "io_uring_queue_init: Cannot allocate memory");
  EXPECT_EQ(io_uring_setup_error(EMFILE), "io_uring_queue_init: Too many open files");
}

}  // namespace
}  // namespace hayate
