// Permissions of a job's secret files (see secret_files.h).
#include "campaign/config/secret_files.h"

#include <sys/stat.h>

#include <cstdio>
#include <string_view>

#include "engine/strings.h"

namespace hayate::campaign::inline config {
namespace {

void check_file(std::string_view label, const std::string& path,
                std::vector<std::string>& warnings) {
  struct stat status {};
  if (path.empty() || ::stat(path.c_str(), &status) != 0) return;
  const unsigned mode = status.st_mode & 07777;
  const bool readable = (mode & (S_IRGRP | S_IROTH)) != 0;
  const bool writable = (mode & (S_IWGRP | S_IWOTH)) != 0;
  if (!readable && !writable) return;
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode);
  warnings.push_back(cat(label, " ", path, " is ",
                         readable && writable ? "readable and writable"
                         : readable           ? "readable"
                                              : "writable",
                         " by group or others (mode ", octal, "); chmod 600 ", path));
}

}  // namespace

std::vector<std::string> loose_secret_files(const JobConfig& job) {
  std::vector<std::string> warnings;
  for (const Route& route : job.routes) {
    if (route.relay) check_file("[relay] password_file", route.password_file, warnings);
  }
  if (job.verp) check_file("[verp] secret_file", job.verp->secret_file, warnings);
  for (const DkimConfig& dkim : job.dkim) {
    check_file(cat(dkim.source, ": [[dkim]] key"), dkim.key_path, warnings);
  }
  return warnings;
}

}  // namespace hayate::campaign::config
