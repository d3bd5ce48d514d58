// The files of a job that hold secrets (the relay password, the VERP key, DKIM private keys)
// must be private to their owner: anyone who can read one can send as the campaign or forge
// its bounces. load_job reads them; this says which ones others can read or write, so that a
// run warns and `hayate check --strict` refuses.
#pragma once

#include <string>
#include <vector>

#include "campaign/config/job.h"

namespace hayate::campaign::inline config {

// One line per secret file of `job` whose group or others may read or write it, naming the
// setting, the file, its mode and the fix: "[verp] secret_file /srv/nov/verp.key is readable
// by group or others (mode 0644); chmod 600 /srv/nov/verp.key". A file that cannot be
// examined is left to the code that reads it.
std::vector<std::string> loose_secret_files(const JobConfig& job);

}  // namespace hayate::campaign::config
