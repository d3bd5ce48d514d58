// Exit codes of the hayate command, from sysexits(3), as mail operators expect.
#pragma once

namespace hayate::campaign::inline run::exit_code {
inline constexpr int ok = 0;              // every recipient reached a final outcome
inline constexpr int usage = 64;          // EX_USAGE: bad command line
inline constexpr int data_error = 65;     // EX_DATAERR: bad job file or data; nothing was sent
inline constexpr int no_input = 66;       // EX_NOINPUT: an input file or folder cannot be read
inline constexpr int unavailable = 69;    // EX_UNAVAILABLE: no destination could be reached
inline constexpr int software = 70;       // EX_SOFTWARE: internal error (io_uring unavailable...)
inline constexpr int cannot_create = 73;  // EX_CANTCREAT: the output cannot be written
inline constexpr int temporary = 75;      // EX_TEMPFAIL: some recipients are still deferred
// EX_TEMPFAIL too, for cron: another run holds the campaign's lock; try at the next tick.
inline constexpr int locked = 75;
inline constexpr int config = 78;  // EX_CONFIG: the run was stopped by a setting no retry
                                   // fixes (a relay refused our credentials, stop_at passed)
}  // namespace hayate::campaign::run::exit_code
