// The phrase tables (see phrases.h). The generic groups follow the wording Sisimai 5 lists per
// reason, widened where real bounces word the same thing otherwise; the provider groups follow
// what each provider documents for its replies. Patterns run over lower-cased text with
// whitespace folded, at most 2 KiB of it.
#include "campaign/bounce/phrases.h"

#include <array>

#include "engine/strings.h"

namespace hayate::campaign::inline bounce {
namespace {

using enum Reason;
constexpr Provider kAny = Provider::none;

constexpr Phrase kPhrases[] = {
    // --- Any server's wording: one group per reason. ---
    {kAny, mailboxfull,
     R"(mailbox (?:is )?full|mail ?box (?:is )?full|full mailbox|mailbox (?:has )?exceeded|mailbox size limit|mailbox (?:over|exceeds) (?:its )?quota|mailbox quota usage exceeded|maildir over quota|maildir delivery failed: (?:user|domain)disk quota|mailfolder is full|over (?:the )?(?:allowed |disk )?quota|is over quota|quota (?:exceeded|violation|full)|exceed(?:ed|s|ing) (?:its |the |their )?(?:mailbox |storage |disk )?quota|exceeded storage allocation|(?:user|account|recipient) (?:is )?(?:temporarily )?over(?:quota| quota| the quota)|user has exceeded quota|not enough (?:storage )?space|insufficient (?:storage|space) (?:in|for) (?:mailbox|user)|disc quota|disk quota|recipient reached disk quota|would exceed (?:maximum allowed storage|the (?:allowed|mailbox) quota)|would be over the allowed quota|too many messages (?:on the server|in (?:the )?mailbox)|user has too many messages on the server|boite du destinataire pleine|postfach voll|does not have enough space|has exceeded (?:its|the) (?:disk|storage|mailbox)|disk space limit|account disabled temporarly for exceeding receiving limits|mail file size exceeds the maximum size allowed for mail delivery|the user's space has been used up|too much mail data|inbox is out of storage space|email quota exceeded|storage (?:quota|limit) (?:exceeded|reached)|容量(?:が|を)?(?:超過|オーバー)|insufficient disk space|diskspace quota|no space left on device|not enough disk space|not sufficient disk space)"},
    {kAny, mesgtoobig,
     R"(message (?:is )?too (?:big|large)|message size (?:exceeds|is too|limit)|size (?:exceeds|limit)|(?:exceeds|exceeded) (?:the )?(?:maximum|max) (?:inbound )?message size|exceeded maximum inbound message size|max message size exceeded|message length exceeds|message file too big|line limit exceeded|taille limite du message atteinte|message header size exceeds limit|exceeded .{0,40}message size|message .{0,40}exceeds .{0,40}limit|message .{0,40}size.{0,40}exceed|message .{0,20}too.{0,20}big|mail file size exceeds|552 message size exceeds)"},
    {kAny, suspend,
     R"( is currently suspended| temporary locked|boite du destinataire archivee|email account that you tried to reach is (?:disabled|inactive)|has been suspended|invalid/inactive user|is a deactivated mailbox|mailbox (?:currently )?suspended|mailbox is frozen|mailbox unavailable or access denied|recipient rejected: temporarily inactive|recipient suspend the service|this account has been disabled or discontinued|this mailbox is disabled|user suspended|account is locked|account (?:has been|is) (?:disabled|suspended|deactivated|frozen)|account disabled|disabled (?:account|mailbox)|mailbox (?:is )?(?:disabled|suspended|inactive)|(?:user|recipient) (?:is )?suspended|inactive (?:user|account|mailbox)|user (?:is )?inactive|deactivated mailbox|is no longer valid\.|mailbox disabled for this recipient|\(#5\.2\.1\) account disabled|temporarily inactive|inactive account|is unavailable: user is terminated|this account has been temporarily suspended|this address no longer accepts mail|user or domain is disabled|mail receiving disabled)"},
    {kAny, hasmoved, R"( has been replaced by |recipient no longer on server|has moved to )"},
    {kAny, norelaying,
     R"( as a relay|insecure mail relay|is not permitted to relay|mail server requires authentication when attempting to send to a non-local e-mail address|not a gateway|not allowed to relay|not an open relay|relay access denied|relay(?:ing)? (?:is )?(?:denied|not (?:permitted|allowed)|prohibited)|relaying mail to |this system is not configured to relay mail|unable to relay|(?:we|i) do not relay|cannot relay|open relay not allowed|relay not permitted|not (?:in my list of allowed rcpthosts|configured to relay)|isn't in my list of allowed rcpthosts|that domain isn't in my list of allowed rcpthosts|mail relay denied|email address is not verified|no relaying|specified domain is not allowed)"},
    {kAny, authfailure,
     R"(//spf\.pobox\.com|bad spf records for|dmarc policy|please inspect your spf settings|sender policy framework \(spf\) fail|sender policy framework violation|spf \(sender policy framework\) domain authentication fail|spf check: fail|spf check failed|dmarc check failed|is not allowed to send mail\..{0,200}_401|is not allowed to send from <.{0,200} per it's spf record|domain authentication fail|fails? (?:to pass )?(?:spf|dkim|dmarc)|(?:spf|dkim|dmarc) (?:check |validation |authentication )?fail|senders to authenticate|authentication checks? (?:did not pass|failed)|fails to pass authentication checks|does not pass dmarc verification|doesn't meet the required authentication level|must pass either spf or dkim|not pass authentication|dmarc sender invalid|spf sender invalid|dkim sender invalid|not accepted due to domain's dmarc policy)"},
    {kAny, userunknown,
     R"(#5\.1\.1 bad address|550 address invalid|5\.1\.0 address rejected\.|address (?:does not exist|not present in directory|unknown)|archived recipient|bad[-_ ]recipient|can't accept user|does not exist\.|destination addresses were unknown|destination server rejected recipients|email address (?:does not exist|could not be found)|invalid (?:address|mailbox|recipient)|is not (?:a known user|a valid mailbox|an active address at this host)|mailbox (?:does not exist|invalid|is inactive|is unavailable|not present|not found|unavaiable|unavailable)|mailbox \S+ does not exist|nessun utente simile in questo indirizzo|no account by that name here|no existe (?:dicha persona|ese usuario)|no mail ?box available for this user|no mailbox (?:by that name is currently available|found|here)|no such (?:address here|mailbox|person at this address|recipient|user)|no thank you rejected: account unavailable|no valid recipients, bye|not a valid (?:recipient|user here)|not a local address|not email addresses|recipient address rejected\. \(in reply to rcpt to command\)|recipient address rejected: (?:access denied|invalid user|invalid-recipient|unknown user|userunknown|user unknown in .{0,40}table|user .{0,80} does not exist)|recipient does not exist|recipient is not (?:accepted|local)|recipient not (?:exist|found|ok)|recipient refuses to accept your mail|recipient unknown|requested action not taken: mailbox unavailable|resolver\.adr\.recipient ?notfound|resolver\.adr\.recipnotfound|sorry, (?:user unknown|badrcptto|no mailbox here by that name|your envelope recipient has been denied)|that domain or user isn't in my list of allowed rcpthosts|the email account that you tried to reach does not exist|the following recipients was undeliverable|the user's email name is not found|there is no one at this address|this address no longer accepts mail|this email address is wrong or no longer valid|this recipient is (?:in my badrecipientto list|not in my validrcptto list)|this spectator does not exist|unknown (?:mailbox|recipient|user|local[- ]?part|e-?mail address)|user (?:does not exist|missing home directory|not active|not exist|not found|not known|unknown|doesn't exist)|utilisateur inconnu|vdeliver: invalid or unknown virtual user|your envelope recipient is in my badrcptto list|<[^>]{1,200}> not found|<[^>]{1,200}>\.\.\. blocked by |account .{1,80} does not exist at the organization|invalid recipient\..{0,80}41[68]|rcpt <.{1,200} does not exist|recipient .{1,120} was not found in|said: 550[- ]5\.1\.1 .{0,200} user unknown |this user doesn't have a .{1,40} account|user .{1,120} was not found|user .{1,120} does not exist|user \(.{1,120}\) unknown|no .{1,80} in name directory|non-?existent user|recipient not found by smtp address lookup|the email address you entered couldn't be found|the recipient's e-?mail address was not found|address not found|ユーザー?不明|宛先不明|存在しない(?:メールアドレス|アドレス|ユーザ))"},
    {kAny, filtered, R"(because the recipient is only accepting mail from specific email addresses|bounced address|due to extended inactivity new mail is not currently being accepted for this mailbox|has restricted sms e-mail|is not accepting any mail|message rejected due to user rules|not found recipient account|refused due to recipient preferences|resolver\.rst\.notauthorized|this account is protected by|user reject|refuse to receive mail|you have been blocked by the recipient|mail is rejected by recipients|rejected by (?:the )?recipient|recipient (?:has )?(?:blocked|rejected|refused) |isn't authorized to send to the recipient|not authorized to send to this recipient|restricted to internal senders|doesn't accept messages from outside|受信拒否|迷惑メール設定|指定受信|message filtered)"},
    {kAny, requireptr,
     R"(access denied\. ip name lookup failed|ptr record|reverse dns|cannot find your (?:reverse )?hostname|fix reverse dns for |please get a custom reverse dns name|sender ip reverse lookup rejected|does not have a ptr record|forward dns entry does not point to the sending ip|with no reverse dns|unresolvable relay host name|generic dns ptr-records|domain .{1,80} mismatches client ip|dns lookup failure: .{1,120} try again later|reverse dns lookup for host .{1,120} failed permanently|forbidden by invalid rdns record|unverifyable sending ips|cannot resolve your address|ip name lookup failed|lookup of your ip address failed|rdns)"},
    {kAny, notcompliantrfc,
     R"(not rfc ?5322 compliant|rfcmessagenoncompliant|rfc 5322 section 3\.6\.2|multiple addresses in from: header|missing a valid (?:address in the from: header|message-id)|headers are not rfc compliant|duplicate (?:from|date|subject|message-id|to) header|multiple (?:from|sender|subject|date|to|message-id) headers|does not comply with rfc ?5322)"},
    {kAny, badreputation,
     R"(a poor email reputation score|temporarily rate limited due to ip reputation|likely suspicious due to the very low reputation|the sending mta's poor reputation|very low reputation of the sending|ip/domain reputation problems|low reputation of the sending|poor (?:ip )?reputation|local ct ip reputation)"},
    {kAny, contenterror,
     R"(header size exceeds maximum permitted|improper use of 8-bit data|message header size, or recipient list, exceeds policy limit|message mime complexity exceeds|too many received: headers|invalid mime headers|improperly-formatted binary content|unnecessary base64 encoding|mail message is malformed|invalid message content|stray linefeeds in message|invalid characters|duplicate header)"},
    {kAny, rejected,
     R"(sender address rejected|domain of sender address|sender verify failed|sender verification failed|sender domain (?:must exist|is empty|does not exist|not found)|unroutable sender address|from: domain is invalid|access denied \(in reply to mail from command\)|access denied \(sender blacklisted\)|administrative prohibition|batv (?:failed to verify|validation failure)|backscatter protection detected an invalid or expired email address|because the sender isn't on the .{0,40}s list of senders to accept mail from|bogus mail from|connections not accepted from servers without a valid sender domain|denied \[bouncedeny\]|denied by secumail valid-address-filter|delivery not authorized, message refused|email address is on senderfilterconfig list|emetteur invalide|empty envelope senders not allowed|envelope blocked|no third-party dsns|fully qualified email address required|invalid domain, see <url:|invalid sender|is not a registered gateway user|mail from not owned by user|null sender is not allowed|recipient not accepted\. \(batv: no tag|returned mail not accepted here|sender address has been blacklisted|sender email address rejected|sender is in my black list|sender is spammer|sender not pre-approved|sender rejected|sender denied|unknown sender address|bad outbound sender|syntax error: empty email address|rejected by batv defense|this server does not accept mail from|unsigned dsn for|you are not allowed to post to this mailing list|you are sending to/from an address that has been blacklisted|your envelope sender is in my badmailfrom list|your (?:email address|domain) has been (?:blocked|blacklisted)|sender envelope domain not allowed|sender was not authenticated|not in allowed-senders list|mail sending denied|unauthenticated email is not accepted|due to unresolvable rfc\.?5321 domain|envelope rejected|recipient addresses rejected ?: access denied|permission to post|グループにメッセージを投稿する権限|can't determine purported responsible address|sender was rejected|spam reporting address|your email address has been blacklisted|envelope blocked - |does not exist e2110)"},
    {kAny, hostunknown,
     R"(domain does not exist|domain is not reachable|domain must exist|host or domain name not found|host unknown|host unreachable|mail domain mentioned in email address is unknown|name or service not known|no such domain|unknown domain|the account or domain may not exist|unknown host|unroutable address|unrouteable address|all relevant mx records point to non-existent hosts|couldn't find any host named|nxdomain|nonexistent domain)"},
    {kAny, spamdetected,
     R"(the mail server detected your message as spam|appears to be unsolicited|blacklisted url in message|block for spam|blocked by (?:policy: no spam please|spamassassin)|bulk e-?mail|considered unsolicited bulk e-mail|rejected - bulk email|mail score \(.{1,40} over |content filter rejection|identified this email as a bulk email|denied due to spam list|high probability of spam|may consider spam|message (?:considered as spam|contains spam|content rejected|detected as spam|filtered|is being rejected as it seems to be a spam|looks like spam|refused by .{0,40}spamprofiler|rejected as spam|rejected because of unacceptable content|rejected due to suspected spam content)|our (?:email server thinks this email is spam|filters rate at and above|system has detected that this message is)|probable spam|reject bulk\.advertising|rejected: spamassassin score|rejected by \S+ \(spam\)|rejected due to spam|rejecting (?:banned|mail) content|spam-like characteristics|sending address not accepted due to spam filter|spam (?:\S+ exceeded|blocked|check|content matched|detected|email|message rejected|not accepted|refused|rejection|reporting address|score)|spambouncer identified spam|spamming not allowed|too much spam|detected as spam|rejected by spam filtering engine|classification as bulk mail|looked like spam|classified as spam|appears to be spam|identified as spam|scored as spam|spam points|recurrent pattern detection system|spam message not queued|we dont accept spam|your (?:email|message) (?:appears similar to spam|breaches local uribl policy|had spam-like|is considered spam|is probably spam|was detected by spam|has been (?:blocked|rejected) as spam)|likely unsolicited mail|spam is embedded in the email|mail content denied|due to the nature of the content|message was rejected for possible spam|suspected spam|//www\.spamhaus\.org/help/help_spam_16\.htm|//dsbl\.org/help/help_spam_16\.htm)"},
    {kAny, virusdetected,
     R"(potentially executable attachment|contains prohibited virus|has been used by recent viruses|virus detected|infected with a virus|virus found|contains a virus|malware|trojan|virus phishing/malicious_url detected)"},
    {kAny, policyviolation,
     R"(an illegal attachment on your message|because the recipient is not accepting mail with |by non-member to a members-only list|closed mailing list|denied by policy|email not accepted for policy reasons|email rejected due to security policies|header are not accepted|header error|local policy violation|message bounced due to organizational settings|message given low priority|not accepted for policy reasons|message rejected due to local policy|due to local policy|rejected for policy reasons|protocol violation detected|not subscribed to this group|rejected by organization policy|content presents a potential|we do not accept messages containing|without solving a captcha|policy that prohibited|anti-spoofing policy|content examination policy|x-dg-ref header is too long|attachment extension is forbidden|policy violation|you're using a mass mailer)"},
    {kAny, ratelimited,
     R"(has exceeded the max emails per hour|please try again slower|try again slower|receiving mail at a rate that prevents|receiving mail too quickly|throttling failure|rate limit|ratelimit|rate-limit|rate limited|throttl|sending rate|message rate|daily (?:message|sending|user sending|smtp relay) (?:quota|limit)|unusual rate of (?:unsolicited )?mail|due to excessive volume|frequency (?:of receiving messages is )?limited|message threshold exceeded|exceeded .{0,40}allowable number of posts)"},
    {kAny, toomanyconn,
     R"(all available ips are at maximum connection limit|connection rate limit exceeded|exceeds per-domain connection limit|too many (?:connections|concurrent|simultaneous|smtp sessions|sessions|recipients|errors from your ip|rcpt)|trop de connexions|we have already made numerous attempts to deliver this message|connection limit|maximum connection|max message per connection reached|too many con\S*s|too many messages)"},
    {kAny, blocked,
     R"( said: 550 blocked|\(\S+@\S+:blocked\)|access from ip address \S+ blocked|bad sender ip address|banned sending ip|banned sender|blacklisted by|blocked using |blocked - see|refused - see|dnsbl|client host (?:\S+ )?(?:rejected|blocked)|confirm this mail server|connection dropped|connection refused by|connection reset by peer|connection was dropped by remote host|connections? (?:not accepted|will not be accepted)|currently sending spam see: |domain does not exist:|dynamic/zombied/spam ips blocked|email blocked by |error: no valid recipients from |esmtp not accepting connections|extreme bad ip profile|go away|helo command rejected:|host network not allowed|hosts with dynamic ip|invalid ip for sending mail of domain|is in a black list|is in an \S+rbl on |is not allowed to send mail from|mail server at .{1,80} is blocked|mail from \d+\.\d+\.\d+\.\d+ refused|rejected based on blacklist|no access from mail server|no matches to nameserver query|not currently accepting mail from your ip|part of their network is on our block list|please use the smtp server of your isp|rejected - multi-blacklist|the sending mta or the sender has not passed validation|rejecting open proxy|sender ip address rejected|server access forbidden by your ip|service not available, closing transmission channel|smtp error from remote mail server after initial connection:|sorry, your remotehost looks suspiciously like spammer|temporarily deferred due to (?:unexpected volume or )?user complaints|to submit messages to this e-mail system has been rejected|too many spams from your ip|too many unwanted messages have been sent from|was blocked by |we do not accept mail from dynamic ips|you are not allowed to connect|you are sending spam|is listed in the rbl|temporary blacklisted|your server requires confirmation|listed as abusive|is blacklisted|blocked by earthlink|refused to talk to me|spamhaus|spamcop|barracudacentral|\brbl\b|sorbs|(?:block|black|deny|ban)list(?:ed)?|ip (?:address )?(?:\S+ )?(?:is )?(?:blocked|banned|listed)|your ip address|blocked)"},
    {kAny, systemerror,
     R"(aliasing/forwarding loop broken|can't create user output file|could not load drd for domain|internal error reading data|internal server error|interrupted system call|it encountered an error while being processed|it would create a mail loop|local configuration error|local error in processing|loop was found in the mail exchanger|loops back to myself|queue file write error|mail system configuration error|remote server is misconfigured|server configuration error|service currently unavailable|system config error|temporary local problem|timeout waiting for input|transaction failed|temporary system problem|server busy|system error|recipient deferred because there is no mdb|unable to connect .{1,80}daemon)"},
    {kAny, networkerror,
     R"(could not connect and send the mail to|dns records for the destination computer could not be found|hop count exceeded|host is unreachable|host name lookup failure|host not found, try again|mail forwarding loop for |malformed (?:or unexpected )?name server reply|maximum forwarding loop count exceeded|message looping|routing loop|too many hops|unable to resolve route |unrouteable mail domain|no route to host|network is unreachable|temporary failure in name resolution|mail loop detected|exceeded 50 hops|dns query failed|wasn't able to establish an smtp connection|could not connect to)"},
    {kAny, systemfull,
     R"(mail system full|requested mail action aborted: exceeded storage allocation|insufficient system storage|no space left)"},
    {kAny, notaccept,
     R"(does not accept mail|null ?mx|name server: \.: host not found|no mx record found for domain=|no route for current request|smtp protocol returned a permanent error|system not accepting network messages|has no mail-enabled subscriptions|indicated no smtp service)"},
    {kAny, expired,
     R"(connection timed out|could not find a gateway for|delivery attempts will continue to be|delivery time expired|failed to deliver to domain |giving up on|have been failing for a long time|has been delayed|it has not been collected after|message expired|message timed out|retry time not reached for any host after a long failure period|server did not respond|in the queue too long|unable to deliver message after multiple retries|was not reachable within the allowed queue period|your message could not be delivered for more than|queue expired|retry timeout exceeded|connection expired|could not deliver for the last|giving up\.|delivery failed \d+ attempts|could not be delivered for|message expired, cannot connect to remote server|could not be delivered for .{1,20} days|all hosts have been failing for a long time|has been frozen|was frozen on arrival)"},
    {kAny, failedstarttls,
     R"(starttls is required to send mail|tls required but not supported|must issue a starttls command first|tls required for rcpt domain|senders to use tls/ssl|failed mta-sts validation|starttls-not-supported|certificate-expired:|tlsa-invalid:|dnssec-invalid:|certificate-host-mismatch:|this route requires (?:encryption|tls)|tls/sslv3 connection required)"},
    {kAny, securityerror,
     R"(account not subscribed to ses|authentication (?:credentials invalid|failure|failed|required|turned on in your email client)|authentification requise|authentification invalide|is a dead domain|executable files are not allowed in compressed files|recipient address rejected: access denied|you don't authenticate or the domain isn't in my list|unauthenticated senders not allowed|is not authorized to perform ses:send|you are not authorized to send mail, authentication is required|verification failure|application-specific password required|username and password not accepted|please log in (?:with|through) your web browser|too many login attempts|incorrect authentication data|turn on smtp authentication|email address is not verified)"},
    {kAny, mailererror,
     R"(procmail: |bin/(?:procmail|maildrop|maidrop)|command (?:failed: |died with status |output:)| \|\| exit |exit \d+|mailer error|pipe to \|/|x-unix; )"},
    {kAny, syntaxerror,
     R"(syntax error|unrecognized command|command (?:not )?(?:unrecognized|recognized|not implemented)|bad sequence of commands|command parameter not implemented)"},
    {kAny, vacation,
     R"(i am away on vacation|i am away until|i am out of the office|i will be traveling for work on)"},

    // --- MTAs' own fixed wording (Exim, qmail, Domino, IMail, OpenSMTPD, Gmail's and
    // Facebook's reports...): it says what failed whatever command the report names, as the
    // MTA writes it for that failure alone. ---
    {Provider::mta, filtered,
     R"(refused due to recipient preferences|\brcp-p[23]\b|cannot route mail to user|mail delivery failed\.\.\. user unknown)"},
    {Provider::mta, userunknown,
     R"(not listed in (?:domino directory|public name & address book)|non répertorié dans l'annuaire domino|domino ディレクトリには見つかりません|ディレクトリのリストにありません|invalid final delivery userid|^unknown user: \S+@|no mailbox here by that name|\brcp-p1\b|\bint-p[134]\b|because the address couldn't be found\. check for typos)"},
    {Provider::mta, expired,
     R"(could not deliver for the last \d+ seconds|^delivery failed \d+ attempts|the recipient server did not accept our requests to connect|delivery to the following recipient has been delayed|dns error: could not contact dns servers|envelope expired|delivery retry timeout exceeded|your message was not delivered within|delivery expired)"},
    {Provider::mta, hostunknown,
     R"(all host address lookups failed permanently|all relevant mx records point to non-existent hosts|dns error: domain name not found|dns error: dns server returned answer with no data|sorry, i couldn't find any host |illegal host/domain name found|as the remote domain doesnt exist)"},
    {Provider::mta, notaccept,
     R"(an mx or srv record indicated no smtp service|sorry, i couldn't find a mail exchanger or ip address|no mx found for (?:domain|destination)|no host found for existing smtp connection|destination seem to reject all mails)"},
    {Provider::mta, networkerror,
     R"(sorry, i wasn't able to establish an smtp connection|although i'm listed as a best-preference mx or a for that host|address family mismatch on destination mxs|all routes to destination blocked|bad dns lookup error code|could not retrieve source address|network error on destination mxs|no valid route to (?:remote mx|destination)|temporary failure in mx lookup|message has exceeded maximum hop count| had no relevant answers\.| responded with code nxdomain)"},
    {Provider::mta, mailboxfull,
     R"(error: quota exceed|^user mailbox exceeds allowed size|as their mailbox is full|the number of messages in recipient's mailbox exceeded the local limit|the user\(s\) account is temporarily over quota)"},
    {Provider::mta, suspend,
     R"(the user\(s\) account is (?:disabled|temporarily limited)|\brcp-t4\b)"},
    {Provider::mta, mesgtoobig,
     R"(mail size limit exceeded|message size exceeds fixed maximum message size:|\bmsg-p1\b|\bint-p2\b| - message size exceeds recipient)"},
    {Provider::mta, contenterror,
     R"(too many "received" headers|\bmsg-p2\b|\bpol-p6\b| - bad header:)"},
    {Provider::mta, syntaxerror,
     R"(angle-brackets nested too deep|expected word or "<"|domain missing in source-routed address|malformed address:)"},
    {Provider::mta, systemerror,
     R"(delivery to (?:file|pipe) forbidden|local delivery failed|lmtp error after |several matches found in domino directory|this domain's dns violates rfc 1035|bad interpreter: no such file or directory|\bcon-t1\b|\brcp-t1\b| - temporary mta failure on relaying| - rejected by next-hop mta on relaying| - unable to relay message back to mta)"},
    {Provider::mta, systemfull, R"(mailbox unavailable \(not enough free space\))"},
    {Provider::mta, blocked, R"(\bpol-p[1-4]\b|\bpol-t[123]\b)"},
    {Provider::mta, rejected, R"(\bdns-p[12]\b|\bdns-t1\b)"},
    {Provider::mta, requireptr, R"(\bdns-p3\b|\bdns-t2\b)"},
    {Provider::mta, notcompliantrfc, R"(\bmsg-p3\b)"},
    {Provider::mta, authfailure, R"(\bpol-p7\b)"},
    {Provider::mta, ratelimited, R"(\bcon-t[23]\b)"},
    {Provider::mta, virusdetected,
     R"(\bpol-p5\b| - infected|^requested action not taken: virus detected)"},
    {Provider::mta, norelaying, R"(due to the following smtp relay error)"},
    {Provider::mta, securityerror,
     R"(could not retrieve credentials|please turn on smtp authentication in your mail client)"},
    {Provider::mta, spamdetected, R"( - spam\b)"},

    // --- Google (Gmail, Google Workspace): "<code> <status> <text>" replies. ---
    {Provider::google, userunknown,
     R"(the email account that you tried to reach does not exist|address couldn't be found, or is unable to receive mail|we weren't able to find the recipient domain)"},
    {Provider::google, suspend, R"(account that you tried to reach is (?:disabled|inactive))"},
    {Provider::google, mailboxfull,
     R"(inbox is out of storage space|is over quota|email quota exceeded)"},
    {Provider::google, authfailure,
     R"(spf record of the sending domain|senders to authenticate|fails to pass spf checks|spf record with a hard fail|domain's dmarc policy|fails to pass authentication checks|aligned with either the authenticated spf or dkim|to add a dmarc record)"},
    {Provider::google, badreputation, R"(very low reputation of the sending)"},
    {Provider::google, requireptr,
     R"(does not have a ptr record|have a ptr record, or the ptr record|ipv6 sending guidelines regarding ptr records|does not match the ip address of the hostname)"},
    {Provider::google, failedstarttls,
     R"(must issue a starttls command first|starttls may not be repeated|tls required for rcpt domain|senders to use tls/ssl for smtp)"},
    {Provider::google, blocked,
     R"(ip not in whitelist for rcpt domain|try again later, closing connection|helo/ehlo argument|unusual rate of (?:unsolicited )?mail)"},
    {Provider::google, mesgtoobig,
     R"(exceeded google's message size limits|exceeds google's (?:limit|message size limit|header name limit|message header size limit)|message header size limits|bytes per individual header size)"},
    {Provider::google, notcompliantrfc,
     R"(missing a valid address in the from: header|multiple addresses in from: header|is not rfc 5322 compliant|missing a valid message-id|unicode character in a disallowed header|encoded-word syntax is not permitted|is not a valid rfc 5321 address|mail message is malformed)"},
    {Provider::google, policyviolation,
     R"(illegal attachment on your message|content presents a potential security issue|has a policy that prohibited|same message-id:)"},
    {Provider::google, rejected, R"(mail sending denied|unauthenticated email is not accepted)"},
    {Provider::google, norelaying,
     R"(mail relay denied|invalid credentials for relay|not authorized to send email directly to our servers)"},
    {Provider::google, spamdetected,
     R"(nature of the content or the links|likely unsolicited mail)"},
    {Provider::google, ratelimited,
     R"(receiving mail too quickly|peak smtp relay limit|rate that prevents additional messages|daily (?:sending quota|user sending limit|smtp relay (?:sending )?limit)|has been rate limited)"},
    {Provider::google, networkerror, R"(message exceeded 50 hops)"},
    {Provider::google, expired, R"(connection expired|timeout - closing connection)"},
    {Provider::google, toomanyconn, R"(too many recipients)"},
    {Provider::google, systemerror,
     R"(temporary system problem|server busy|multiple destination domains per transaction|temporarily rejected (?:this )?message|domain policy size per transaction)"},
    {Provider::google, securityerror,
     R"(too many login attempts|cannot decode response|no identity changes permitted|authentication required|application-specific password required|log in (?:with|through) your web browser|username and password not accepted)"},
    {Provider::google, syntaxerror,
     R"(smtp protocol violation|optional argument not permitted|syntax error|unrecognized commands|unimplemented command|unrecognized command|bad sequence of commands|ehlo/helo first|mail first|rcpt first|unrecognized authentication type)"},

    // --- Microsoft (Outlook.com, Exchange Online). ---
    {Provider::microsoft, authfailure,
     R"(must pass either spf or dkim validation|sender policy framework violation|does not pass dmarc verification|required authentication level)"},
    {Provider::microsoft, badreputation, R"(rate limited due to ip reputation)"},
    {Provider::microsoft, failedstarttls,
     R"(mta-sts validation|starttls is required to send mail|restrictdomainstoipaddresses|starttls-not-supported|certificate-expired|tlsa-invalid|dnssec-invalid|certificate-host-mismatch)"},
    {Provider::microsoft, blocked,
     R"(access denied, please try again later|must have a reverse dns record|access denied, bad helo|access denied, rejected by recipient|does not accept email over ipv6|access denied, banned sender|using customer block list|banned sending ip|invalid domain name|on our block list|\(s3150\)|\(s3140\)|\(s3115\)|\(s844\))"},
    {Provider::microsoft, mesgtoobig,
     R"(resolver\.rst\.recipsizelimit|recipsizelimit|message size exceeds fixed maximum message size|message too big for system)"},
    {Provider::microsoft, contenterror,
     R"(too many related errors|invalid characters|agent generated message depth exceeded|invalid message content)"},
    {Provider::microsoft, networkerror,
     R"(nonexistentdomain|hop count exceeded|routing loop detected|dns query failed)"},
    {Provider::microsoft, rejected,
     R"(unknown sender address|sender denied|bad outbound sender|sender was not authenticated|not in allowed-senders list|spam abuse detected|must be rfc 5322 section 3\.6\.2 compliant)"},
    {Provider::microsoft, policyviolation,
     R"(x-dg-ref header is too long|policy violation detected|delivery not authorized, message refused)"},
    {Provider::microsoft, notaccept,
     R"(system not accepting network messages|no mail-enabled subscriptions|missing or bad storedriver mdb properties)"},
    {Provider::microsoft, norelaying,
     R"(unable to relay|client was not authenticated|relay access denied)"},
    {Provider::microsoft, userunknown,
     R"(recipientnotfound|recipnotfound|exrecipnotfound|recipient not found by smtp address lookup|requested action not taken: mailbox unavailable|the email address you entered couldn't be found|bad destination mailbox address|invalid recipient address|reserved by rfc 2606|single label domains not accepted|recipient not found|invalid x\.400 address|unknown recipient or mailbox unavailable|user unknown)"},
    {Provider::microsoft, filtered,
     R"(resolver\.rst\.notauthorized|resolver\.rst\.authrequired|not authorized to send to (?:this|the) recipient)"},
    {Provider::microsoft, mailboxfull, R"(mailbox full|quota exceeded)"},
    {Provider::microsoft, suspend, R"(access denied, banned recipient|mailbox cannot be accessed)"},
    {Provider::microsoft, ratelimited,
     R"(recipient thread limit exceeded|reached your daily limit for message recipients|submission quota exceeded|per hour message receive limit|has exceeded permitted limits within|tenant has exceeded threshold|traffic not accepted from this ip|too many recipients|exceeded their limit for)"},
    {Provider::microsoft, syntaxerror, R"(send hello first)"},
    {Provider::microsoft, systemerror,
     R"(service not available|service not active|system incorrectly configured|journaling on-premises messages|helo / ehlo requires domain address|destination mailbox address ambiguous|mailing list expansion problem|misconfigured forwarding address|temporary server error\. please try again later|message failed to be replicated|suspiciousremoteservererror|server busy\. please try again later|pfa agent busy)"},
    {Provider::microsoft, systemfull, R"(insufficient system resources)"},
    {Provider::microsoft, securityerror,
     R"(cannot achieve exchange server authentication|client was not authenticated to send anonymous mail)"},
    {Provider::microsoft, spamdetected, R"(content filter agent quarantined this message)"},
    {Provider::microsoft, expired, R"(message expired|message delayed|queue expired)"},

    // --- Yahoo Inc (Yahoo, AOL, Verizon): [TSS04] and friends. ---
    {Provider::yahoo, authfailure, R"(requires all senders to authenticate)"},
    {Provider::yahoo, blocked,
     R"(because the ip is in spamhaus's list|spamhaus xbl|\[bl2[1-3]\]|\[rl[0-9]+\]|\[hm0[0-9]\])"},
    {Provider::yahoo, norelaying, R"(relaying denied for )"},
    {Provider::yahoo, notcompliantrfc, R"(headers are not rfc compliant)"},
    {Provider::yahoo, policyviolation, R"(not accepted for policy reasons)"},
    {Provider::yahoo, rejected,
     R"(due to unresolvable rfc\.?5321 domain| will be permanently deferred|\[tss09\]|\[tss11\])"},
    {Provider::yahoo, ratelimited, R"(user is receiving mail too quickly)"},
    {Provider::yahoo, suspend, R"( is no longer valid\.|this mailbox is disabled)"},
    {Provider::yahoo, syntaxerror, R"(syntax error in parameters or arguments)"},
    {Provider::yahoo, toomanyconn, R"(max message per connection reached|\[ts0[1-3]\])"},
    {Provider::yahoo, userunknown,
     R"(dd this user doesn't have a |mailbox not found|dd requested mailbox is not available|dd not a valid recipient)"},

    // --- AOL's own hosts. ---
    {Provider::aol, hostunknown, R"(host or domain name not found)"},
    {Provider::aol, notaccept, R"(type=mx: malformed or unexpected name server reply)"},

    // --- Apple (iCloud). ---
    {Provider::apple, authfailure, R"(s dmarc policy|failing both spf and dkim)"},
    {Provider::apple, blocked,
     R"(domain present in the spamhaus|listing in spamhaus|proofpoint\.com/dnsbl-lookup|not accepting connections|\(cs01\)|\(cs02\))"},
    {Provider::apple, hasmoved, R"(recipient no longer on server)"},
    {Provider::apple, mailboxfull, R"(user is over quota)"},
    {Provider::apple, norelaying, R"(relay access denied)"},
    {Provider::apple, notaccept, R"(host/domain does not accept mail)"},
    {Provider::apple, policyviolation, R"(due to local policy)"},
    {Provider::apple, rejected, R"(sender address rejected)"},
    {Provider::apple, ratelimited, R"(due to excessive volume)"},
    {Provider::apple, userunknown,
     R"(inactive email address|user does not exist|unknown or illegal alias)"},

    // --- Cox: "AUP#CXxxx" codes, then words. ---
    {Provider::cox, requireptr,
     R"(aup#cxdns\b|rejected - no rdns|dns check failure - try again later)"},
    {Provider::cox, authfailure, R"(aup#cxsndr\b)"},
    {Provider::cox, rejected, R"(aup#cxsmtp\b|sender rejected)"},
    {Provider::cox, ratelimited,
     R"(aup#cx(?:cnct|mxrt)\b|too many sessions from|requested action aborted: try again later|message threshold exceeded)"},
    {Provider::cox, securityerror, R"(aup#cx(?:thrt|mj)\b)"},
    {Provider::cox, blocked,
     R"(aup#(?:cxbl|cdrbl|ipbl[01]+)\b|cox too many bad commands from|too many invalid recipients)"},
    {Provider::cox, spamdetected, R"(aup#urlbl[01]+\b)"},
    {Provider::cox, policyviolation,
     R"(esmtp no data before greeting|attachment extension is forbidden)"},
    {Provider::cox, systemerror, R"(esmtp server temporarily not available)"},
    {Provider::cox, userunknown, R"(recipient rejected)"},

    // --- GoDaddy (secureserver.net): " IBnnn" codes, then words. ---
    {Provider::godaddy, securityerror, R"( ib401\b)"},
    {Provider::godaddy, notcompliantrfc, R"( ib50[12]\b)"},
    {Provider::godaddy, rejected, R"( ib506\b)"},
    {Provider::godaddy, authfailure, R"( ib508\b)"},
    {Provider::godaddy, requireptr, R"( ib108\b)"},
    {Provider::godaddy, spamdetected, R"( ib212\b|message rejected for spam or virus content)"},
    {Provider::godaddy, virusdetected, R"( ib705\b)"},
    {Provider::godaddy, ratelimited, R"( ib(?:605|007|101|504|510|607)\b)"},
    {Provider::godaddy, badreputation, R"( ib103\b)"},
    {Provider::godaddy, blocked,
     R"( ib(?:10[456]|11[0-3])\b|rbl reject|www\.spamhaus\.org/query/bl\?ip=)"},
    {Provider::godaddy, expired, R"(has been in the queue too long|delivery timeout)"},
    {Provider::godaddy, mailboxfull, R"(account storage limit)"},
    {Provider::godaddy, suspend, R"(account disabled)"},
    {Provider::godaddy, systemerror, R"(message is looping)"},
    {Provider::godaddy, userunknown, R"(recipient not found|account does not exist)"},

    // --- Spectrum (Charter): "AUP#1310", "AUP#In-1310": the code's range says. ---
    {Provider::spectrum, blocked, R"(aup#[a-z-]*(?:1000|12[0-5]0)\b)"},
    {Provider::spectrum, rejected, R"(aup#[a-z-]*(?:10[1-8]0|1500|1520)\b)"},
    {Provider::spectrum, systemerror, R"(aup#[a-z-]*1090\b)"},
    {Provider::spectrum, requireptr, R"(aup#[a-z-]*11[0-5]0\b)"},
    {Provider::spectrum, policyviolation, R"(aup#[a-z-]*(?:11[6-9]0|1560)\b)"},
    {Provider::spectrum, networkerror, R"(aup#[a-z-]*1260\b)"},
    {Provider::spectrum, ratelimited, R"(aup#[a-z-]*(?:1[34][0-9]0|15[458]0)\b)"},
    {Provider::spectrum, mesgtoobig, R"(aup#[a-z-]*1530\b)"},

    // --- NTT docomo. ---
    {Provider::docomo, mailboxfull, R"(552 too much mail data)"},
    {Provider::docomo, ratelimited, R"(552 too many recipients)"},
    {Provider::docomo, syntaxerror,
     R"(503 bad sequence of commands|504 command parameter not implemented)"},

    // --- KDDI (au, ezweb). ---
    {Provider::kddi, userunknown, R"(>: user unknown)"},
    {Provider::kddi, filtered, R"(550 : user unknown)"},

    // --- Tencent (QQ). ---
    {Provider::tencent, authfailure, R"(spf check failed|dmarc check failed)"},
    {Provider::tencent, blocked, R"(suspected bounce attacks|suspected spam ip|connection denied)"},
    {Provider::tencent, mesgtoobig, R"(message too large)"},
    {Provider::tencent, spamdetected, R"(spam is embedded in the email|mail content denied)"},
    {Provider::tencent, ratelimited,
     R"(mailbox unavailable or access denied|frequency of receiving messages is limited|(?:ip|domain|sender|connection) frequency limited)"},
    {Provider::tencent, suspend, R"(is a deactivated mailbox)"},
    {Provider::tencent, syntaxerror, R"(bad address syntax)"},
    {Provider::tencent, rejected, R"(suspected spam|mail is rejected by recipients)"},
    {Provider::tencent, userunknown, R"(mailbox not found)"},

    // --- Mimecast. ---
    {Provider::mimecast, authfailure, R"((?:spf|dkim|dmarc) sender invalid - envelope rejected)"},
    {Provider::mimecast, badreputation,
     R"(internal resources are temporarily unavailable|local ct ip reputation - \(reject\))"},
    {Provider::mimecast, blocked,
     R"(sender address blocked|recipient temporarily unavailable|ip temporarily blacklisted)"},
    {Provider::mimecast, expired, R"(journal messages past the expiration)"},
    {Provider::mimecast, failedstarttls,
     R"(this route requires (?:encryption|tls)|high-strength ciphers|configuration is invalid for this certificate)"},
    {Provider::mimecast, mesgtoobig, R"(maximum email size exceeded)"},
    {Provider::mimecast, networkerror,
     R"(incorrect hostname used for inbounds|mail loop detected)"},
    {Provider::mimecast, norelaying, R"(open relay (?:is )?not allowed)"},
    {Provider::mimecast, notaccept, R"(account inbounds disabled)"},
    {Provider::mimecast, onhold,
     R"(account outbounds disabled|hostname is not authorized|journal message past expiration)"},
    {Provider::mimecast, policyviolation,
     R"(anti-spoofing policy|content examination policy|host network,? not allowed)"},
    {Provider::mimecast, rejected,
     R"(administrative prohibition envelope blocked|envelope blocked - user (?:domain )?entry|manually blocked senders|blocked senders - block policy|block policy for envelope from)"},
    {Provider::mimecast, securityerror,
     R"(incorrect authentication data|submitter failed to (?:disabled|authenticate))"},
    {Provider::mimecast, systemerror,
     R"(unable to process connection|message ended early|unable to process command|unable to process an email)"},
    {Provider::mimecast, ratelimited,
     R"(account service is temporarily unavailable|too many recipients|exceeding outbound thread limit)"},
    {Provider::mimecast, userunknown, R"(invalid address|user unknown|invalid recipient)"},
    {Provider::mimecast, virusdetected, R"(email rejected due to security policies)"},

    // --- MessageLabs (Symantec, Broadcom). ---
    {Provider::messagelabs, authfailure, R"(domain authentication fail)"},
    {Provider::messagelabs, badreputation, R"(connection rejected by policy)"},
    {Provider::messagelabs, blocked,
     R"(your ip is in the pbl|your ip address has been |your ip address \(\S+\) has been blocked|your email address \(\S+\) has been blocked)"},
    {Provider::messagelabs, contenterror, R"(stray linefeeds in message)"},
    {Provider::messagelabs, failedstarttls, R"(tls/sslv3 connection required)"},
    {Provider::messagelabs, norelaying, R"( as a relay, )"},
    {Provider::messagelabs, notcompliantrfc,
     R"(550 requested action aborted \[4\]|this message is not rfc 5322)"},
    {Provider::messagelabs, rejected,
     R"(sender envelope domain not allowed|your domain has been (?:blocked|blacklisted)|your email address has been (?:blocked|blacklisted)|badmailfrom list)"},
    {Provider::messagelabs, securityerror, R"(turn on smtp authentication)"},
    {Provider::messagelabs, spamdetected, R"(message filtered|filtered by outbound scanning)"},
    {Provider::messagelabs, toomanyconn,
     R"(too many recipients received this hour|too many messages)"},
    {Provider::messagelabs, userunknown,
     R"(no such user|invalid recipient|mailbox is not allowed)"},

    // --- IUA (email.ua): the number in its ".i.ua/err/N/" link. ---
    {Provider::iua, norelaying, R"(\.i\.ua/err/[16]/)"},
    {Provider::iua, userunknown, R"(\.i\.ua/err/2/)"},
    {Provider::iua, suspend, R"(\.i\.ua/err/3/)"},
    {Provider::iua, mailboxfull, R"(\.i\.ua/err/4/)"},
    {Provider::iua, ratelimited, R"(\.i\.ua/err/5/)"},
    {Provider::iua, blocked, R"(\.i\.ua/err/[79]/)"},
    {Provider::iua, rejected, R"(\.i\.ua/err/8/)"},
    {Provider::iua, filtered, R"(\.i\.ua/err/10/)"},

    // --- France Telecom, La Poste: "LPN007_416", "OFR_999 [999]": the last three digits. ---
    {Provider::franceptt, blocked, R"((?:_|-|\[)(?:10[0-3]|20[0-9]|510)(?:[^0-9]|$))"},
    {Provider::franceptt, ratelimited, R"((?:_|-|\[)(?:104|109|99[0-9])(?:[^0-9]|$))"},
    {Provider::franceptt, requireptr, R"((?:_|-|\[)107(?:[^0-9]|$))"},
    {Provider::franceptt, authfailure,
     R"((?:_|-|\[)(?:39[0-9]|401|51[579])(?:[^0-9]|$)|spf/dns de votre nom de domaine)"},
    {Provider::franceptt, securityerror, R"((?:_|-|\[)(?:305|402)(?:[^0-9]|$))"},
    {Provider::franceptt, rejected, R"((?:_|-|\[)(?:403|405|415|421|425)(?:[^0-9]|$))"},
    {Provider::franceptt, userunknown, R"((?:_|-|\[)416(?:[^0-9]|$))"},
    {Provider::franceptt, mailboxfull, R"((?:_|-|\[)417(?:[^0-9]|$))"},
    {Provider::franceptt, suspend, R"((?:_|-|\[)42[06](?:[^0-9]|$))"},
    {Provider::franceptt, systemerror, R"((?:_|-|\[)505(?:[^0-9]|$))"},
    {Provider::franceptt, spamdetected, R"((?:_|-|\[)506(?:[^0-9]|$))"},
    {Provider::franceptt, mesgtoobig, R"((?:_|-|\[)514(?:[^0-9]|$))"},
    {Provider::franceptt, policyviolation, R"((?:_|-|\[)630(?:[^0-9]|$))"},
};

struct HostSuffix {
  Provider provider;
  std::string_view suffix;
};

// The servers' names (and the mail domains) that belong to each provider.
constexpr HostSuffix kHosts[] = {
    {Provider::google, "aspmx.l.google.com"},
    {Provider::google, "gmail-smtp-in.l.google.com"},
    {Provider::google, "googlemail.com"},
    {Provider::microsoft, ".prod.outlook.com"},
    {Provider::microsoft, ".protection.outlook.com"},
    {Provider::microsoft, ".onmicrosoft.com"},
    {Provider::microsoft, ".exchangelabs.com"},
    {Provider::microsoft, ".hotmail.com"},
    {Provider::yahoo, ".yahoodns.net"},
    {Provider::aol, ".mail.aol.com"},
    {Provider::aol, ".mx.aol.com"},
    {Provider::apple, ".mail.icloud.com"},
    {Provider::apple, ".apple.com"},
    {Provider::apple, ".me.com"},
    {Provider::cox, "cox.net"},
    {Provider::godaddy, "smtp.secureserver.net"},
    {Provider::godaddy, "mailstore1.secureserver.net"},
    {Provider::spectrum, "charter.net"},
    {Provider::docomo, "mfsmax.docomo.ne.jp"},
    {Provider::kddi, ".ezweb.ne.jp"},
    {Provider::kddi, "msmx.au.com"},
    {Provider::tencent, ".qq.com"},
    {Provider::mimecast, ".mimecast.com"},
    {Provider::messagelabs, ".messagelabs.com"},
    {Provider::iua, ".email.ua"},
    {Provider::franceptt, ".laposte.net"},
    {Provider::franceptt, ".orange.fr"},
    {Provider::franceptt, ".wanadoo.fr"},
};

}  // namespace

namespace {

std::string_view bare(std::string_view name) {
  while (!name.empty() && (name.back() == '.' || name.back() == ']' || name.back() == '>')) {
    name.remove_suffix(1);
  }
  while (!name.empty() && (name.front() == '[' || name.front() == '<')) name.remove_prefix(1);
  return name;
}

// `tail` ends `name` at a label boundary ("x.cox.net" and "cox.net" end with "cox.net";
// "notcox.net" does not).
bool ends_with_labels(std::string_view name, std::string_view tail) {
  if (tail.empty() || name.size() < tail.size()) return false;
  const std::size_t before = name.size() - tail.size();
  if (!equals_ignoring_case(name.substr(before), tail)) return false;
  return tail.front() == '.' || before == 0 || name[before - 1] == '.';
}

}  // namespace

Provider provider_of_host(std::string_view host) {
  host = bare(host);
  if (host.size() < 5) return Provider::none;
  for (const HostSuffix& entry : kHosts) {
    if (ends_with_labels(host, entry.suffix)) return entry.provider;
  }
  return Provider::none;
}

Provider provider_of_domain(std::string_view domain) {
  domain = bare(domain);
  if (domain.size() < 5) return Provider::none;
  for (const HostSuffix& entry : kHosts) {
    // "laposte.net" belongs to ".laposte.net"; "example.net" to nothing.
    if (domain.find('.') != std::string_view::npos && ends_with_labels(entry.suffix, domain)) {
      const std::size_t before = entry.suffix.size() - domain.size();
      if (before == 0 || entry.suffix[before - 1] == '.') return entry.provider;
    }
  }
  return Provider::none;
}

std::span<const Phrase> phrase_table() { return kPhrases; }

}  // namespace hayate::campaign::bounce
