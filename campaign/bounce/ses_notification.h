// Amazon SES event notifications, as SNS delivers them by mail ("AWS Notification Message"):
// a JSON object whose Message holds SES's own JSON, with notificationType Bounce, Complaint
// or Delivery. Pure: the text of the message in, findings out.
#pragma once

#include <string_view>
#include <vector>

#include "campaign/bounce/report_parser.h"

namespace hayate::campaign::inline bounce {

// Appends one finding per bounced, complained-about or delivered recipient the notification
// in `text` (the message's text) names; false when `text` holds no SES notification. The
// findings' classification is left to the caller.
bool parse_ses_notification(std::string_view text, std::vector<Finding>& findings);

}  // namespace hayate::campaign::bounce
