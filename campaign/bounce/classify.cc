// Bounce classification (see classify.h): a table of RFC 3463 codes, then one RE2 set of the
// phrases providers and MTAs use, compiled once, matched over the lowered diagnostic text.
#include "campaign/bounce/classify.h"

#include <array>
#include <memory>
#include <vector>

#include "engine/assert.h"
#include "engine/strings.h"
#include "re2/re2.h"
#include "re2/set.h"

namespace hayate::campaign::inline bounce {
namespace {

// How much of a diagnostic is read: the reason is in the first lines; a bounce that pastes
// a whole transcript must not make classification slow.
constexpr std::size_t kTextBytesMax = 2048;

struct Phrase {
  Reason reason;
  const char* pattern;  // RE2 syntax over lower-case text with single spaces
};

// Ordered by priority: when several match, the first wins. What the recipient's mailbox says
// (unknown, full, disabled) outranks what is said about the sender or the connection, which
// outranks generic words. Patterns are written against the text as servers send it.
constexpr Phrase
    kPhrases
        [] =
            {
                // Provider-specific first: their wording is exact and settles cases the generic
                // words
                // would get wrong.
                // What is said about the envelope sender, before the recipient-side words it
                // contains
                // ("Sender address rejected: Domain not found").
                {Reason::rejected,
                 R"(sender address rejected|domain of sender address|sender verify failed|sender verification failed|sender domain (?:must exist|is empty|does not exist|not found)|unroutable sender address|from: domain is invalid)"},
                {Reason::filtered,
                 R"(you have been blocked by the recipient|blocked by the recipient|refused due to recipient preferences|message rejected due to user rules)"},
                // Gmail / Google Workspace.
                {Reason::userunknown,
                 R"(the email account that you tried to reach does not exist)"},
                {Reason::suspend, R"(the email account that you tried to reach is disabled)"},
                {Reason::mailboxfull,
                 R"(the (?:email account|user) (?:that )?you (?:tried|are trying) to reach is over (?:its )?quota)"},
                {Reason::ratelimited,
                 R"(receiving mail at a rate that prevents additional messages|receiving mail too quickly)"},
                {Reason::speeding, R"(unusual rate of unsolicited mail|try again slower)"},
                {Reason::requireptr,
                 R"(does not meet ipv6 sending guidelines regarding ptr records|ipv6 sending guidelines)"},
                {Reason::badreputation,
                 R"(very low reputation of the sending (?:ip|domain)|low reputation of the sending|poor (?:ip )?reputation|ip/domain reputation problems|sender reputation)"},
                {Reason::authfailure,
                 R"(unauthenticated email from \S+ is not accepted due to domain's dmarc policy|dmarc policy|(?:not|isn't|is not) authenticated|fails? (?:to pass )?(?:spf|dkim|dmarc)|(?:spf|dkim|dmarc) (?:check |validation |authentication )?fail|sender policy framework|authentication checks? (?:did not pass|failed)|not pass authentication|5\.7\.2[0-36])"},
                {Reason::notcompliantrfc,
                 R"(not rfc ?5322 compliant|rfc ?5322|rfc ?2822|multiple (?:from|sender|subject|date|to|message-id) headers|duplicate (?:from|date|subject|message-id) header|messages? (?:is|are) not (?:rfc|properly) compliant|does not comply with rfc)"},
                // Outlook.com / Exchange Online / Exchange.
                {Reason::userunknown,
                 R"(requested action not taken: mailbox unavailable|recipientnotfound|resolver\.adr\.recipnotfound|resolver\.adr\.recipientnotfound|recipient address rejected: access denied|the email address you entered couldn't be found|recipient not found by smtp address lookup|the recipient's e-?mail address was not found)"},
                {Reason::blocked,
                 R"(5\.7\.511 access denied|banned sender|\(s3140\)|\(s3150\)|\(s3115\)|\(s844\)|part of their network is on our block list|on our block list|blocked by outlook|access denied, banned sending ip)"},
                {Reason::filtered,
                 R"(resolver\.rst\.notauthorized|resolver\.rst\.authrequired|not authorized to send to this recipient|isn't authorized to send to the recipient|restricted to internal senders|doesn't accept messages from outside)"},
                // Yahoo / AOL / Verizon.
                {Reason::userunknown,
                 R"(this user doesn't have a \S+ account|dd this user doesn't have|dd requested mailbox is not available|dd not a valid recipient|552 1 requested mail action aborted, mailbox not found)"},
                {Reason::suspend,
                 R"(this mailbox is disabled|mailbox disabled for this recipient|account is disabled|is inactive|user (?:is )?inactive|inactive (?:user|account|mailbox)|deactivated mailbox|mailbox is inactive|account (?:has been|is) (?:disabled|suspended|deactivated|locked|frozen)|account disabled|disabled (?:account|mailbox)|mailbox (?:is )?(?:frozen|disabled|suspended|currently suspended)|(?:user|account|mailbox|recipient) (?:is )?suspended|has been suspended|temporarily inactive|\(#5\.2\.1\) account disabled|mailbox unavailable or access denied|the user\(s\) account is disabled|account is locked)"},
                {Reason::toomanyconn,
                 R"(\[ts0[1-4]\]|temporarily deferred due to unexpected volume|temporarily deferred due to user complaints|\[tss0[1-9]\])"},
                {Reason::blocked, R"(\[bl2[1-3]\]|\[rl[0-9]+\]|\[hm0[0-9]\]|421 4\.7\.[01] \[ts)"},
                // iCloud / Apple.
                {Reason::userunknown,
                 R"(user does not exist|no such user|unknown user|user unknown)"},
                {Reason::blocked,
                 R"(\(cs01\)|\(cs02\)|message rejected due to local policy\. please visit https://support\.apple\.com)"},
                // Amazon SES.
                {Reason::userunknown,
                 R"(amazon ses has suppressed sending to this address|recent history of bouncing as an invalid address|on the account-level suppression list|on the suppression list)"},
                {Reason::securityerror,
                 R"(email address is not verified|not authorized to perform ses:send|account not subscribed to ses)"},
                // Japanese carriers: docomo, au (ezweb, kddi), SoftBank, Willcom; in English and
                // Japanese.
                {Reason::filtered,
                 R"(because the recipient is only accepting mail from specific email addresses|only accepting mail from specific|this message was blocked because of the recipient's setting|refuse to receive mail|receive (?:mail )?rejected|受信拒否|迷惑メール設定|指定受信)"},
                {Reason::userunknown,
                 R"(invalid recipient: <\S+@(?:softbank|i\.softbank|disney|vodafone)\.ne\.jp>|unknown user \S+@docomo\.ne\.jp|宛先不明|存在しない(?:メールアドレス|アドレス|ユーザ)|ユーザが存在しません|該当するユーザーは存在しません)"},
                {Reason::mesgtoobig,
                 R"(552 too much mail data|too much mail data|容量(?:が|を)?(?:超過|オーバー))"},
                // A temporary DNS failure reads like a missing domain but is not one.
                {Reason::networkerror,
                 R"(host not found, try again|name service error for domain \S+: host not found, try again|temporary failure in name resolution)"},
                // Mailbox does not exist.
                {Reason::userunknown,
                 R"((?:user|recipient|mailbox|address|addressee|account|e-?mail address|destination address|local user)s? (?:is )?(?:unknown|not found|does not exist|doesn't exist|not exist|invalid|unavailable|not available|is not valid|not valid)|unknown (?:user|recipient|mailbox|address|local part|local-part|e-?mail address)|no such (?:user|mailbox|recipient|address|person|local user|account)|no mailbox (?:here|by that name|found)|no (?:account|mailbox) by that name|no valid recipients|not (?:a|an) (?:valid|known|active|local) (?:mailbox|user|recipient|address)|invalid (?:recipient|mailbox|user|address|e-?mail address|destination)|invalid-recipient|bad (?:recipient|destination mailbox|address)|(?:does|did) not exist(?: here| on this (?:system|server)|\.)|doesn't exist|non-?existent (?:user|mailbox|address)|not (?:listed in|found in) (?:domino directory|the directory|name directory)|address not present in directory|address (?:does not exist|unknown|invalid|not found)|not our customer|mailbox (?:does not|doesn't) exist|mailbox \S+ does not exist|mailbox not (?:found|present)|mailbox unavailable|mailbox is unavailable|mailbox (?:name )?invalid|recipient rejected|rcpt <\S+> does not exist|550 address invalid|user (?:\S+ )?(?:doesn't|does not) (?:have|exist)|unknown or illegal alias|sorry, badrcptto|has no (?:mailbox|account) here|is not a valid|email address could not be found|could not deliver mail to this user|no such address|user not found|this account does not exist|recipient address rejected|archived recipient|can't accept user|invalid final delivery userid|user not known|ユーザー?不明)"},
                // Mailbox full.
                {Reason::mailboxfull,
                 R"(mailbox (?:is )?full|mail ?box (?:is )?full|mailbox (?:has )?exceeded|mailbox size limit|mailbox (?:over|exceeds) (?:quota|its quota)|full mailbox|over (?:the )?(?:allowed |disk )?quota|quota (?:exceeded|violation|full)|exceed(?:ed|s|ing) (?:its |the |their )?(?:mailbox |storage |disk )?quota|exceeded storage allocation|user has exceeded|(?:user|account|recipient) (?:is )?over(?:quota| quota| the quota)|not enough (?:storage )?space|insufficient (?:storage|space) (?:in|for) (?:mailbox|user)|mailfolder is full|disk quota|recipient reached disk quota|would exceed (?:maximum allowed storage|the (?:allowed|mailbox) quota)|too many messages (?:on the server|in (?:the )?mailbox)|boite du destinataire pleine|postfach voll|mailbox would exceed|does not have enough space|has exceeded (?:its|the) (?:disk|storage|mailbox)|temporarily over quota|user over quota)"},
                // Domain does not exist.
                {Reason::hostunknown,
                 R"(host (?:or domain name )?not found|host unknown|unknown host|domain (?:not found|does not exist|doesn't exist|name not found|is not reachable|unknown)|no such domain|unrouteable address|unroutable address|name or service not known|all relevant mx records point to non-existent hosts|couldn't find any host named|mail domain mentioned in email address is unknown|recipient domain must exist|unknown domain|no mx (?:record|host)|nxdomain|dns (?:type mx )?lookup (?:failed|error)? ?for|could not be resolved|hostname not found|no such host|the account or domain may not exist|domain must exist)"},
                {Reason::hasmoved,
                 R"(has been replaced by|has moved|no longer (?:valid|in use|available|at this address)|address (?:has )?changed)"},
                {Reason::notaccept,
                 R"(does not accept mail|null ?mx|accepts no mail|not accepting (?:any )?mail|host/domain does not accept mail)"},
                {Reason::norelaying,
                 R"(relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed)|prohibited)|not permitted to relay|unable to relay|(?:we|i) do not relay|relaying mail to \S+ is not allowed|not (?:in my list of allowed rcpthosts|configured to relay)|isn't in my list of allowed rcpthosts|not an open relay|as a relay|cannot relay|relay not permitted|not allowed to relay)"},
                {Reason::virusdetected,
                 R"(virus|malware|infected|potentially executable attachment|trojan|this form of attachment has been used by recent viruses)"},
                {Reason::spamdetected,
                 R"(\bspam\b|spam (?:detected|message|score|content)|looks like spam|identified as spam|considered (?:as )?spam|classified as spam|detected as spam|as spam|unsolicited (?:bulk )?(?:mail|e-?mail)|appears to be unsolicited|bulk e-?mail|message content rejected|content filter rejection|high probability of spam|our system has detected that this message is|message (?:was )?filtered|spam-like|suspected spam|rejected as spam|junk mail|probable spam|likely unsolicited)"},
                // The sending host.
                {Reason::requireptr,
                 R"(reverse dns|reverse (?:hostname|lookup|dns entry)|ptr record|rdns|cannot find your (?:reverse )?hostname|client host rejected: cannot find your|no ptr|ip name lookup failed|cannot resolve your address|fix reverse dns|ips with missing ptr|lookup of your ip address failed)"},
                {Reason::blocked,
                 R"(blocked using|blocked by|(?:block|black|deny|ban)list(?:ed)?|blacklisted|spamhaus|spamcop|barracuda|\brbl\b|dnsbl|sorbs|listed (?:in|at|on|by)|client host (?:\S+ )?(?:rejected|blocked)|host \S+ refused to talk to me|refused to talk to me|connections? (?:not accepted|will not be accepted|dropped)|(?:your|sender|sending|the) (?:ip|ip address|host|server) (?:\S+ )?(?:is|has been|was) (?:blocked|listed|banned|rejected|not allowed)|ip (?:address )?(?:\S+ )?(?:is )?blocked|access from ip address \S+ blocked|(?:ip|host|sender) (?:address )?(?:is )?(?:blocked|banned)|dynamic ip|dynamic/zombied|helo command rejected|go away|blocked - see|refused - see|your (?:ip|host|server|network) (?:is|has been) |temporarily blocked|has been blocked|blocked for|blocked|not allowed to send (?:mail )?from|host network not allowed)"},
                {Reason::ratelimited,
                 R"(rate limit|ratelimit|rate-limit|rate limited|throttl|sending rate|too many (?:messages|mails|emails)|message rate|max emails per hour|daily (?:message|sending) quota|exceeded the max)"},
                {Reason::toomanyconn,
                 R"(too many (?:connections|concurrent|simultaneous|smtp sessions|sessions|recipients|errors from your ip)|connection limit|maximum connection|connection rate|exceeds per-domain connection limit|too many rcpt)"},
                {Reason::mesgtoobig,
                 R"(message (?:is )?too (?:big|large)|message size (?:exceeds|is too|limit)|size (?:exceeds|limit)|(?:exceeds|exceeded) (?:the )?(?:maximum|max) (?:inbound )?message size|message length exceeds|message file too big|too large|exceeds (?:the )?size|line limit exceeded|max message size|mail file size exceeds)"},
                {Reason::contenterror,
                 R"(header size exceeds|improper use of 8-bit data|8-bit data|invalid mime|mime complexity|improperly-formatted|illegal (?:character|header)|headers? too long|message header size|unnecessary base64)"},
                {Reason::policyviolation,
                 R"(polic(?:y|ies)|prohibited|not accepted for policy|closed mailing list|non-member|members-only|organizational settings|illegal attachment|attachments? (?:is|are)? ?not (?:allowed|accepted|permitted)|do not accept messages containing|not subscribed to this group|protocol violation|header error|header are not accepted)"},
                // The envelope sender.
                {Reason::rejected,
                 R"(sender (?:address )?(?:rejected|denied|blocked|verify failed|verification failed|not (?:pre-approved|allowed|authorized))|domain of sender address|sender domain (?:must exist|is empty|does not exist|not found)|invalid sender|bad sender|(?:mail from|envelope sender|return path|return-path|sender)(?: address)? (?:is )?(?:invalid|rejected|not (?:valid|verified|owned))|unroutable sender|null sender|empty envelope sender|batv|mail from not owned|from: domain is invalid|returned mail not accepted|no third-party dsns|bogus mail from|administrative prohibition|sender is (?:in my black list|spammer)|you are not allowed to post|access denied \(in reply to mail from|fully qualified email address required|sender ip address rejected|in reply to mail from command)"},
                {Reason::securityerror,
                 R"(authentication (?:required|failed)|must (?:authenticate|issue a starttls)|starttls|tls (?:required|is required|handshake)|encryption (?:required|needed)|unauthenticated senders|not authorized to send|insecure mail relay|verification failure|certificate|ssl (?:required|handshake)|5\.7\.8|5\.7\.9|authentication is required)"},
                // The message could not be handed over.
                {Reason::expired,
                 R"(retry time(?:out)? (?:not reached|exceeded)|delivery time expired|message expired|expired after|could not be delivered (?:for|within)|cannot send message for|giving up|gave up|in the queue too long|queue too long|too long in queue|delivery attempts will continue|has been delayed|delayed|unable to deliver message after multiple retries|was not reachable within the allowed queue period|have been failing for a long time|message timed out|timed out while|maximum time|it has not been collected|no answer from host|your message could not be delivered for more than|undeliverable for|could not find a gateway for|server did not respond|retry timeout exceeded|delivery failed \d+ attempts)"},
                // A local program failed (a pipe, a filter): its output about the connection it
                // could not make is not ours.
                {Reason::mailererror,
                 R"(x-unix;|command output:|command died with status|pipe to \|)"},
                {Reason::networkerror,
                 R"(connection (?:refused|timed out|reset|closed)|could not connect|couldn't connect|unable to connect|no route to host|host is unreachable|network is unreachable|mail (?:forwarding )?loop|loop(?:ing|s)? (?:detected|back)|routing loop|too many hops|hop count exceeded|too many received|message looping|this message is looping|name server|host name lookup failure|temporary (?:dns|lookup) failure|dns (?:error|failure|problem|timeout)|timeout (?:exceeded|connecting)|lost connection|unable to resolve route|unrouteable mail domain|wasn't able to establish an smtp connection|malformed (?:or unexpected )?name server reply)"},
                {Reason::systemfull,
                 R"(mail system full|system full|insufficient system storage|disk full|out of disk|no space left|file system full)"},
                {Reason::systemerror,
                 R"(system error|local (?:configuration )?error|configuration error|config error|misconfigured|internal (?:server )?error|temporary local problem|local error in processing|queue file write error|service (?:currently )?unavailable|server error|try again later|temporarily unavailable|temporary failure|interrupted system call|mail system error|it encountered an error while being processed|transaction failed|aliasing/forwarding loop)"},
                {Reason::mailererror,
                 R"(x-unix|mailer error|command died|pipe to \||procmail|program exited|exited with|unknown mailer error|error in processing command|command output:)"},
                {Reason::syntaxerror,
                 R"(syntax error|command (?:not )?(?:unrecognized|recognized|not implemented)|unrecognized command|bad sequence of commands|command parameter not implemented|line too long)"},
                {Reason::filtered,
                 R"(rejected by (?:the )?recipient|recipient (?:has )?(?:blocked|rejected|refused)|blocked by the recipient|user reject|refused due to recipient preferences|message rejected due to user rules|is not accepting (?:any )?mail|due to extended inactivity|filtered|this account is protected by|you have been blocked)"},
};

std::unique_ptr<re2::RE2::Set> compile_phrases() {
  re2::RE2::Options options;
  options.set_encoding(re2::RE2::Options::EncodingLatin1);  // bytes: odd charsets never fail
  options.set_case_sensitive(true);                         // the text is lowered first
  options.set_log_errors(false);
  options.set_max_mem(64 << 20);
  auto set = std::make_unique<re2::RE2::Set>(options, re2::RE2::UNANCHORED);
  for (const Phrase& phrase : kPhrases) {
    std::string error;
    const int index = set->Add(phrase.pattern, &error);
    HAYATE_ASSERT(index >= 0);  // a pattern that does not compile is a bug in this table
  }
  HAYATE_ASSERT(set->Compile());
  return set;
}

const re2::RE2::Set& phrases() {
  static const std::unique_ptr<re2::RE2::Set> set = compile_phrases();
  return *set;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The reason an RFC 3463 code gives, and whether it settles the matter alone.
struct StatusMeaning {
  Reason reason = Reason::undefined;
  bool decisive = false;
};

StatusMeaning status_meaning(const smtp::EnhancedCode& code) {
  const bool permanent = code.klass == 5;
  if (code.klass == 2) return {Reason::delivered, true};
  switch (code.subject) {
    case 1:  // RFC 3463 3.2: addressing status
      switch (code.detail) {
        case 1:
          return {Reason::userunknown, true};
        case 2:
          return {Reason::hostunknown, true};
        case 3:
          return {Reason::userunknown, permanent};
        case 6:
          return {Reason::hasmoved, true};
        case 7:
        case 8:
          return {Reason::rejected, true};
        case 10:  // RFC 7505 4.2: null MX
          return {Reason::notaccept, true};
        case 0:
          return {Reason::userunknown, false};
        default:
          return {Reason::undefined, false};
      }
    case 2:  // 3.3: mailbox status
      switch (code.detail) {
        case 2:
          return {Reason::mailboxfull, true};
        case 3:
          return {Reason::mesgtoobig, true};
        case 1:
          return {Reason::suspend, false};  // "mailbox disabled", also sent for unknown users
        default:
          return {Reason::filtered, false};
      }
    case 3:  // 3.4: mail system status
      switch (code.detail) {
        case 1:
          return {Reason::systemfull, true};
        case 4:
          return {Reason::mesgtoobig, true};
        case 2:
          return {Reason::notaccept, false};
        default:
          return {Reason::systemerror, false};
      }
    case 4:  // 3.5: network and routing status
      switch (code.detail) {
        case 7:
          return {Reason::expired, true};
        case 1:
          return {Reason::expired, false};
        case 6:
          return {Reason::networkerror, true};
        case 4:
          return {permanent ? Reason::hostunknown : Reason::networkerror, false};
        default:
          return {Reason::networkerror, false};
      }
    case 5:  // 3.6: mail delivery protocol status
      switch (code.detail) {
        case 3:
          return {Reason::toomanyconn, true};
        case 1:
        case 2:
          return {Reason::syntaxerror, true};
        default:
          return {Reason::syntaxerror, false};
      }
    case 6:  // 3.7: message content or media status
      return {Reason::contenterror, code.detail != 0};
    case 7:  // 3.8: security or policy status
      switch (code.detail) {
        case 13:
          return {Reason::suspend, true};
        case 16:
          return {Reason::mesgtoobig, true};
        case 17:
        case 18:
          return {Reason::hasmoved, true};
        case 20:
        case 21:
        case 22:
        case 23:
        case 24:
        case 26:  // RFC 7372: DKIM, SPF and the combined checks
          return {Reason::authfailure, true};
        case 25:  // RFC 7372 3.3: reverse DNS validation failed
          return {Reason::requireptr, true};
        case 27:
          return {Reason::notaccept, true};
        case 1:
          return {permanent ? Reason::securityerror : Reason::blocked, false};
        default:
          return {Reason::securityerror, false};
      }
    default:  // X.0.Y: "other or undefined"
      return {Reason::undefined, false};
  }
}

// RFC 5321 4.2.3: what a bare reply code says.
Reason reply_code_reason(std::uint16_t code) {
  switch (code) {
    case 421:
      return Reason::systemerror;
    case 451:
      return Reason::systemerror;
    case 452:
      return Reason::systemfull;
    case 500:
    case 501:
    case 502:
    case 503:
    case 504:
      return Reason::syntaxerror;
    case 551:
      return Reason::hasmoved;
    case 552:
      return Reason::mailboxfull;
    case 523:  // some appliances for "message too big"
      return Reason::mesgtoobig;
    case 571:
      return Reason::blocked;
    default:
      return Reason::undefined;
  }
}

// The canonical subject.detail for a reason whose status was not given.
smtp::EnhancedCode derived_status(Reason reason, std::uint8_t klass) {
  auto code = [klass](std::uint16_t subject, std::uint16_t detail) {
    return smtp::EnhancedCode{klass, subject, detail};
  };
  switch (reason) {
    case Reason::userunknown:
      return code(1, 1);
    case Reason::hostunknown:
      return code(1, 2);
    case Reason::hasmoved:
      return code(1, 6);
    case Reason::notaccept:
      return code(1, 10);
    case Reason::mailboxfull:
      return code(2, 2);
    case Reason::suspend:
      return code(2, 1);
    case Reason::mesgtoobig:
      return code(3, 4);
    case Reason::systemfull:
      return code(3, 1);
    case Reason::expired:
      return code(4, 7);
    case Reason::networkerror:
      return code(4, 0);
    case Reason::norelaying:
      return code(7, 1);
    case Reason::delivered:
      return smtp::EnhancedCode{2, 0, 0};
    default:
      return code(0, 0);
  }
}

// Lower-cases ASCII and folds runs of whitespace into one space, at most kTextBytesMax bytes.
std::size_t normalize(std::string_view text, char* out) {
  std::size_t size = 0;
  bool space = true;  // drops leading whitespace
  for (char c : text) {
    if (size == kTextBytesMax) break;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (!space) out[size++] = ' ';
      space = true;
      continue;
    }
    space = false;
    out[size++] = lower(c);
  }
  HAYATE_ASSERT(size <= kTextBytesMax);
  return size;
}

// The highest-priority phrase matching the normalized text, or undefined.
Reason text_reason(std::string_view normalized) {
  if (normalized.empty()) return Reason::undefined;
  thread_local std::vector<int> matches;
  matches.clear();
  if (!phrases().Match(normalized, &matches) || matches.empty()) return Reason::undefined;
  int best = matches[0];
  for (int index : matches) best = index < best ? index : best;
  HAYATE_ASSERT(best >= 0 && static_cast<std::size_t>(best) < std::size(kPhrases));
  return kPhrases[best].reason;
}

// "temporar..."/"persistent" or "permanent" in the text: the class a bounce without codes has.
std::uint8_t class_from_text(std::string_view normalized) {
  if (normalized.find("temporar") != std::string_view::npos ||
      normalized.find("persistent") != std::string_view::npos) {
    return 4;
  }
  return 5;
}

}  // namespace

std::uint16_t find_reply_code(std::string_view text) {
  for (std::size_t i = 0; i + 3 <= text.size(); ++i) {
    const char c = text[i];
    if (c != '2' && c != '4' && c != '5') continue;
    if (!is_digit(text[i + 1]) || !is_digit(text[i + 2])) continue;
    if (text[i + 1] > '5') continue;
    if (i > 0) {
      const char before = text[i - 1];
      if (is_digit(before) || before == '.' || before == '-' || before == ':' ||
          (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z')) {
        continue;
      }
    }
    const std::size_t end = i + 3;
    if (end < text.size() && text[end] != ' ' && text[end] != '-' && text[end] != '\r' &&
        text[end] != '\n' && text[end] != '\t') {
      continue;
    }
    return static_cast<std::uint16_t>((c - '0') * 100 + (text[i + 1] - '0') * 10 +
                                      (text[i + 2] - '0'));
  }
  return 0;
}

Classification classify(std::uint16_t reply_code, std::string_view enhanced_status,
                        std::string_view diagnostic_text) {
  while (!enhanced_status.empty() && enhanced_status.front() == ' ')
    enhanced_status.remove_prefix(1);
  while (!enhanced_status.empty() && enhanced_status.back() == ' ')
    enhanced_status.remove_suffix(1);
  smtp::EnhancedCode given;
  if (!smtp::parse_enhanced_code(enhanced_status, given)) given = smtp::EnhancedCode{};
  return classify(reply_code, given, diagnostic_text);
}

Classification classify(std::uint16_t reply_code, smtp::EnhancedCode given,
                        std::string_view diagnostic_text) {
  if (!given.present()) smtp::find_enhanced_code(diagnostic_text.substr(0, kTextBytesMax), given);
  if (reply_code < 200 || reply_code > 599) reply_code = 0;
  if (reply_code == 0) reply_code = find_reply_code(diagnostic_text.substr(0, kTextBytesMax));

  char buffer[kTextBytesMax];
  const std::string_view normalized(buffer, normalize(diagnostic_text, buffer));

  // The class: the enhanced code's, else the reply code's, else the text's.
  std::uint8_t klass = given.klass;
  if (klass == 0 && reply_code != 0) klass = static_cast<std::uint8_t>(reply_code / 100);
  if (klass == 0 || klass == 3) klass = class_from_text(normalized);

  Classification result;
  const StatusMeaning meaning =
      given.present() ? status_meaning(given) : StatusMeaning{Reason::undefined, false};
  if (meaning.decisive) {
    result.reason = meaning.reason;
  } else {
    result.reason = text_reason(normalized);
    if (result.reason == Reason::undefined) result.reason = meaning.reason;
    if (result.reason == Reason::undefined) result.reason = reply_code_reason(reply_code);
    if (result.reason == Reason::undefined && (reply_code == 500 || reply_code == 501)) {
      result.reason = Reason::syntaxerror;
    }
  }
  if (klass == 2 && result.reason != Reason::delivered) klass = 5;  // 2xx cannot be a failure
  result.status =
      given.present() && given.klass == klass ? given : derived_status(result.reason, klass);
  result.hard = hard_by_default(result.reason) &&
                !(result.reason == Reason::notaccept && result.status.klass == 4);
  HAYATE_ASSERT(result.status.klass == 2 || result.status.klass == 4 || result.status.klass == 5);
  return result;
}

}  // namespace hayate::campaign::bounce
