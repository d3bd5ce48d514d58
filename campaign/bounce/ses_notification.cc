// Amazon SES notifications (see ses_notification.h). nlohmann::json reads them; SES documents
// the fields at docs.aws.amazon.com/ses/latest/dg/notification-contents.html.
#include "campaign/bounce/ses_notification.h"

#include <string>

#include "campaign/limits.h"
#include "engine/strings.h"
#include "nlohmann/json.hpp"

namespace hayate::campaign::inline bounce {
namespace {

using limits::bounce_findings_max;
using nlohmann::json;

std::string text_of(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "smtp; 550 5.1.1 user unknown" -> "550 5.1.1 user unknown".
std::string without_type(std::string value) {
  const std::size_t semicolon = value.find(';');
  if (semicolon != std::string::npos && semicolon < 12) value.erase(0, semicolon + 1);
  return std::string(trim(value, whitespace_characters));
}

// The JSON object in `text`: from the first '{' to the last '}', with the "!\n " folds some
// gateways put in long lines taken out.
json object_in(std::string_view text) {
  const std::size_t open = text.find('{');
  const std::size_t close = text.rfind('}');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return json();
  }
  std::string body(text.substr(open, close - open + 1));
  for (std::size_t at = body.find("!\n "); at != std::string::npos; at = body.find("!\n ", at)) {
    body.erase(at, 3);
  }
  for (std::size_t at = body.find("!\r\n "); at != std::string::npos;
       at = body.find("!\r\n ", at)) {
    body.erase(at, 4);
  }
  return json::parse(body, nullptr, /*allow_exceptions=*/false);
}

void add_bounces(const json& event, std::vector<Finding>& findings) {
  const json& bounce = event["bounce"];
  const std::string sub_type = lower(text_of(bounce, "bounceSubType"));
  const std::string reporting = without_type(text_of(bounce, "reportingMTA"));
  const auto recipients = bounce.find("bouncedRecipients");
  if (recipients == bounce.end() || !recipients->is_array()) return;
  for (const json& recipient : *recipients) {
    if (!recipient.is_object() || findings.size() >= bounce_findings_max) continue;
    Finding finding;
    finding.kind = FindingKind::bounce;
    finding.recipient = text_of(recipient, "emailAddress");
    finding.recipient_source = RecipientSource::dsn;
    finding.action = lower(text_of(recipient, "action"));
    finding.status = text_of(recipient, "status");
    finding.diagnostic = without_type(text_of(recipient, "diagnosticCode"));
    finding.remote_mta = reporting;
    // SES's own list of addresses that bounced before: it did not even try.
    if (sub_type == "suppressed" || sub_type == "onaccountsuppressionlist") {
      finding.format_reason = Reason::suppressed;
    }
    if (finding.diagnostic.empty()) finding.diagnostic = text_of(bounce, "bounceSubType");
    if (!finding.recipient.empty()) findings.push_back(std::move(finding));
  }
}

void add_complaints(const json& event, std::vector<Finding>& findings) {
  const json& complaint = event["complaint"];
  const auto recipients = complaint.find("complainedRecipients");
  if (recipients == complaint.end() || !recipients->is_array()) return;
  for (const json& recipient : *recipients) {
    if (!recipient.is_object() || findings.size() >= bounce_findings_max) continue;
    Finding finding;
    finding.kind = FindingKind::complaint;
    finding.recipient = text_of(recipient, "emailAddress");
    finding.recipient_source = RecipientSource::dsn;
    finding.feedback_type = lower(text_of(complaint, "complaintFeedbackType"));
    if (!finding.recipient.empty()) findings.push_back(std::move(finding));
  }
}

void add_deliveries(const json& event, std::vector<Finding>& findings) {
  const json& delivery = event["delivery"];
  const auto recipients = delivery.find("recipients");
  if (recipients == delivery.end() || !recipients->is_array()) return;
  for (const json& recipient : *recipients) {
    if (!recipient.is_string() || findings.size() >= bounce_findings_max) continue;
    Finding finding;
    finding.kind = FindingKind::delivered;
    finding.recipient = recipient.get<std::string>();
    finding.recipient_source = RecipientSource::dsn;
    finding.diagnostic = text_of(delivery, "smtpResponse");
    finding.remote_mta = text_of(delivery, "reportingMTA");
    if (!finding.recipient.empty()) findings.push_back(std::move(finding));
  }
}

}  // namespace

bool parse_ses_notification(std::string_view text, std::vector<Finding>& findings) {
  if (text.find("notificationType") == std::string_view::npos &&
      text.find("eventType") == std::string_view::npos) {
    return false;
  }
  json event = object_in(text);
  if (!event.is_object()) return false;
  // SNS wraps SES's JSON in a string: {"Type":"Notification","Message":"{...}"}.
  if (event.contains("Message") && event["Message"].is_string()) {
    event = json::parse(event["Message"].get<std::string>(), nullptr, false);
    if (!event.is_object()) return false;
  }
  std::string type = text_of(event, "notificationType");
  if (type.empty()) type = text_of(event, "eventType");
  const std::size_t before = findings.size();
  if (type == "Bounce" && event.contains("bounce") && event["bounce"].is_object()) {
    add_bounces(event, findings);
  } else if (type == "Complaint" && event.contains("complaint") && event["complaint"].is_object()) {
    add_complaints(event, findings);
  } else if (type == "Delivery" && event.contains("delivery") && event["delivery"].is_object()) {
    add_deliveries(event, findings);
  }
  return findings.size() > before;
}

}  // namespace hayate::campaign::bounce
