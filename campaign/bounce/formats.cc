// Bounce formats (see formats.h): one recognizer per MTA or provider, tried in order, the
// specific ones (a header only that product writes) before the generic ones (a subject many
// share). The marks are those the products write, as Sisimai's parsers know them.
#include "campaign/bounce/formats.h"

namespace hayate::campaign::inline bounce {
namespace {

using Marks = BounceMarks;

bool has(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}
bool starts(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}
bool ends(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}
std::string_view header(const Marks& m, std::string_view name) { return m.header(name); }  // NOLINT
std::string_view subject(const Marks& m) { return m.subject; }
std::string_view from(const Marks& m) { return m.from; }

struct Recognizer {
  std::string_view name;
  bool (*test)(const Marks&);
};

// Headers or words one product alone writes.
constexpr Recognizer kSpecific[] = {
    {"AmazonSES", [](const Marks& m) { return !header(m, "x-amz-sns-message-id").empty(); }},
    {"AmazonWorkMail",
     [](const Marks& m) {
       return !header(m, "x-ses-outgoing").empty() && header(m, "x-mailer") == "amazon workmail";
     }},
    {"AmazonSES",
     [](const Marks& m) {
       return has(from(m), "amazonses.com") ||
              (!header(m, "x-ses-outgoing").empty() && has(m.text, "amazon ses"));
     }},
    {"ReceivingSES", [](const Marks& m) { return !header(m, "x-ses-outgoing").empty(); }},
    {"ActiveHunter", [](const Marks& m) { return !header(m, "x-ahmailid").empty(); }},
    {"Amavis", [](const Marks& m) { return starts(from(m), "\"content-filter at "); }},
    {"Aol", [](const Marks& m) { return !header(m, "x-aol-ip").empty(); }},
    {"FML", [](const Marks& m) { return !header(m, "x-mlserver").empty(); }},
    {"GMX", [](const Marks& m) { return !header(m, "x-gmx-antispam").empty(); }},
    {"Yahoo", [](const Marks& m) { return !header(m, "x-ymailisg").empty(); }},
    {"Yandex", [](const Marks& m) { return !header(m, "x-yandex-uniq").empty(); }},
    {"Zoho", [](const Marks& m) { return !header(m, "x-zohomail").empty(); }},
    {"McAfee", [](const Marks& m) { return has(header(m, "x-nai-header"), "modified by mcafee"); }},
    {"MXLogic",
     [](const Marks& m) {
       return !header(m, "x-mx-bounce").empty() || !header(m, "x-mxl-hash").empty() ||
              !header(m, "x-mxl-notehash").empty() || has(from(m), "mxlogic.net");
     }},
    {"MessageLabs",
     [](const Marks& m) {
       return !header(m, "x-msg-ref").empty() && has(from(m), "messagelabs.com");
     }},
    {"SurfControl",
     [](const Marks& m) { return header(m, "x-mailer") == "surfcontrol e-mail filter"; }},
    {"mFILTER", [](const Marks& m) { return header(m, "x-mailer") == "m-filter"; }},
    {"Mimecast",
     [](const Marks& m) {
       return !header(m, "x-mimecast-bounce").empty() || has(m.received, ".mimecast.com");
     }},
    {"Facebook", [](const Marks& m) { return has(from(m), "mailer-daemon@mx.facebook.com"); }},
    {"SendGrid",
     [](const Marks& m) {
       return header(m, "return-path") == "<apps@sendgrid.net>" ||
              has(m.text, "this is an automatically generated message from sendgrid");
     }},
    {"GoogleGroups",
     [](const Marks& m) {
       return has(from(m), "mailer-daemon@googlemail.com") &&
              !header(m, "x-google-smtp-source").empty() &&
              !header(m, "x-failed-recipients").empty() &&
              (has(m.text, "google groups") || has(m.text, "googlegroups"));
     }},
    {"GoogleWorkspace",
     [](const Marks& m) {
       return has(from(m), "mailer-daemon@googlemail.com") &&
              (has(m.text, "** address not found **") ||
               has(m.text, "** message not delivered **") ||
               has(m.text, "your message wasn't delivered") ||
               has(m.text, "** delivery incomplete **"));
     }},
    {"Gmail", [](const Marks& m) { return has(from(m), "mailer-daemon@googlemail.com"); }},
    {"Outlook",
     [](const Marks& m) {
       return (has(m.received, "hotmail") || has(from(m), "hotmail")) &&
              (!header(m, "x-message-delivery").empty() || !header(m, "x-message-info").empty() ||
               has(subject(m), "delivery status notification"));
     }},
    {"Office365",
     [](const Marks& m) {
       return has(m.received, ".protection.outlook.com") || has(m.received, ".prod.outlook.com") ||
              has(from(m), "postmaster@outlook.com");
     }},
    {"Exchange2003",
     [](const Marks& m) {
       const std::string_view mailer = header(m, "x-mailer");
       const std::string_view mime_ole = header(m, "x-mimeole");
       return starts(mailer, "internet mail service (") ||
              starts(mailer, "microsoft exchange server internet mail connector") ||
              starts(mime_ole, "produced by microsoft exchange");
     }},
    {"Exchange2007",
     [](const Marks& m) {
       const std::string_view s = subject(m);
       return (starts(s, "undeliverable:") || starts(s, "non_remis_") || starts(s, "non remis") ||
               starts(s, "non recapitabile:")) &&
              !header(m, "content-language").empty();
     }},
    {"Domino",
     [](const Marks& m) {
       return starts(subject(m), "delivery failure:") || starts(subject(m), "delivery_failure:");
     }},
    {"Notes", [](const Marks& m) { return starts(subject(m), "undeliverable message"); }},
    {"EZweb",
     [](const Marks& m) {
       return has(from(m), "postmaster@ezweb.ne.jp") || has(from(m), "postmaster@au.com") ||
              has(m.received, "ezweb.ne.jp (ezweb mail) with") ||
              subject(m) == "mail system error - returned mail";
     }},
    {"KDDI",
     [](const Marks& m) {
       return (has(from(m), ".dion.ne.jp") || has(m.received, "au-net.ne.jp") ||
               has(m.received, "auone-net.jp")) &&
              !has(from(m), "postmaster@ezweb.ne.jp");
     }},
    {"Biglobe",
     [](const Marks& m) {
       return (has(from(m), "postmaster@biglobe.ne.jp") ||
               has(from(m), "postmaster@inacatv.ne.jp") || has(from(m), "postmaster@tmtv.ne.jp") ||
               has(from(m), "postmaster@ttv.ne.jp")) &&
              starts(subject(m), "returned mail:");
     }},
    {"MailRu",
     [](const Marks& m) {
       return has(from(m), "mailer-daemon@") && has(from(m), "mail.ru") &&
              (has(header(m, "message-id"), ".mail.ru>") ||
               has(header(m, "message-id"), ".smailru.net>"));
     }},
    {"Verizon",
     [](const Marks& m) { return has(from(m), "vtext.com") || has(m.received, "vtext.com"); }},
    {"Bigfoot",
     [](const Marks& m) { return has(from(m), "bigfoot.com") || has(m.received, "bigfoot.com"); }},
    {"MailFoundry", [](const Marks& m) { return has(m.received, "(mailfoundry) id"); }},
    {"MailMarshal", [](const Marks& m) { return starts(subject(m), "undeliverable mail: \""); }},
    {"IMailServer",
     [](const Marks& m) {
       return has(header(m, "x-mailer"), "<smtp32 v") || starts(subject(m), "undeliverable mail ");
     }},
    {"TrendMicro",
     [](const Marks& m) {
       return has(m.text, "interscan messaging security suite") || has(from(m), "interscan") ||
              subject(m) == "mail could not be delivered";
     }},
    {"MessagingServer",
     [](const Marks& m) {
       return has(header(m, "content-type"), "boundary_(id_") ||
              has(m.received, "messaging server") || has(header(m, "message-id"), "boundary_(id_");
     }},
    {"Barracuda", [](const Marks& m) { return has(subject(m), "our bulk email filter"); }},
    {"ApacheJames",
     [](const Marks& m) {
       return has(m.received, "james smtp server") || has(header(m, "message-id"), ".javamail.");
     }},
    {"PowerMTA",
     [](const Marks& m) {
       return has(subject(m), "delivery report") || has(m.text, "x-powermta-virtualmta");
     }},
    {"OpenSMTPD", [](const Marks& m) { return has(m.received, " (opensmtpd) with "); }},
    {"DragonFly", [](const Marks& m) { return has(m.text, "this is the dragonfly mail agent"); }},
    {"Courier",
     [](const Marks& m) {
       return has(from(m), "courier mail server at ") ||
              starts(header(m, "message-id"), "<courier.") ||
              starts(subject(m), "notice: mail delivery status.") ||
              starts(subject(m), "warning: delayed mail.");
     }},
    {"EinsUndEins",
     [](const Marks& m) {
       return has(m.received, "kundenserver") || has(from(m), "kundenserver") ||
              has(m.received, ".1and1.");
     }},
    {"X4",
     [](const Marks& m) {
       return (has(m.received, "invoked for bounce") && !has(m.text, "qmail-send")) ||
              (has(m.text, "unable to deliver message to the following address(es)") &&
               !starts(subject(m), "failure delivery"));
     }},
    {"qmail",
     [](const Marks& m) {
       return has(m.text, "this is the qmail-send program") ||
              has(m.text, "qmail-send program at") || has(m.received, "invoked for bounce");
     }},
    {"X1",
     [](const Marks& m) {
       return starts(subject(m), "returned mail: ") && starts(from(m), "\"mail deliver system\" ");
     }},
    {"X5", [](const Marks& m) { return has(header(m, "to"), "notificationrecipients"); }},
    {"X6",
     [](const Marks& m) { return starts(subject(m), "there was an error sending your mail"); }},
};

// Subjects and opening words several products share: after the specific marks.
constexpr Recognizer kGeneric[] = {
    {"Postfix",
     [](const Marks& m) {
       return subject(m) == "undelivered mail returned to sender" ||
              starts(subject(m), "postfix smtp server: errors from") ||
              has(m.text, "this is the mail system at host");
     }},
    {"Exim",
     [](const Marks& m) {
       return has(m.text, "this message was created automatically by mail delivery software") ||
              (starts(from(m), "mail delivery system") && starts(header(m, "message-id"), "<e1"));
     }},
    {"V5sendmail",
     [](const Marks& m) {
       const std::string_view s = subject(m);
       return starts(s, "returned mail: ") && !has(m.text, "the original message was received at");
     }},
    {"Sendmail",
     [](const Marks& m) {
       const std::string_view s = subject(m);
       return ends(s, "see transcript for details") || starts(s, "warning: ") ||
              has(m.text, "the original message was received at");
     }},
    {"X3",
     [](const Marks& m) {
       return starts(from(m), "mail delivery system") &&
              starts(subject(m), "delivery status notification");
     }},
    {"X2",
     [](const Marks& m) {
       const std::string_view s = subject(m);
       return has(from(m), "mailer-daemon@") &&
              (starts(s, "delivery failure") || starts(s, "failure delivery") ||
               starts(s, "failed delivery"));
     }},
};

}  // namespace

std::string_view detect_format(const BounceMarks& marks) {
  for (const Recognizer& recognizer : kSpecific) {
    if (recognizer.test(marks)) return recognizer.name;
  }
  for (const Recognizer& recognizer : kGeneric) {
    if (recognizer.test(marks)) return recognizer.name;
  }
  return {};
}

}  // namespace hayate::campaign::bounce
