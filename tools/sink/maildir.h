// The --maildir store of hayate-sink: each accepted message becomes one file in DIR/new/,
// written to DIR/tmp/ first and renamed, as the Maildir convention asks
// (https://cr.yp.to/proto/maildir.html). One store per sink thread; file names never collide.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/smtp/server/session.h"
#include "tools/sink/fault.h"

namespace hayate::sink {

// Creates DIR, DIR/tmp, DIR/new and DIR/cur when missing.
absl::Status create_maildir(const std::string& directory);

class MaildirStore final : public MessageKeeper {
 public:
  // `directory` must already be a Maildir (create_maildir). `hostname` ends the file names.
  MaildirStore(std::string directory, std::string_view hostname, std::uint32_t thread_index);

  // Writes "Return-Path: <sender>", one "Delivered-To: rcpt" per recipient (as Postfix's
  // local delivery does), then the content with LF line endings. Not fsynced: this is a test
  // sink, not a mail store that promises durability.
  absl::Status keep(const smtp::server::ReceivedMessage& message) override;

  std::uint64_t messages_stored() const { return messages_stored_; }

 private:
  std::string directory_;
  std::string hostname_;  // '/' and ':' replaced, as the Maildir convention asks
  std::uint32_t thread_index_;
  std::uint64_t messages_stored_ = 0;
  static constexpr std::uint32_t failures_logged_max = 10;
  std::uint32_t failures_logged_ = 0;
  std::string header_;  // reused between messages
  std::string tmp_path_;
  std::string new_path_;
};

}  // namespace hayate::sink
