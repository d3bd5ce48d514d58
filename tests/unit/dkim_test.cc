// Tests of DKIM signing: canonicalization (RFC 6376 3.4.6 example, edge cases, the fast relaxed
// body path against a line-by-line reference), the exact DKIM-Signature layout, load() errors,
// oversigning, and independent verification by dkimpy (tests/unit/dkim_verify.py) of every key
// type and canonicalization, several signers, tampered messages, and generated keys.
#include "campaign/message/dkim.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/strings.h"

namespace hayate::campaign {
namespace {

const std::string data_dir = HAYATE_TEST_DATA_DIR "/dkim";
const std::string verify_script = HAYATE_TEST_DATA_DIR "/../unit/dkim_verify.py";
constexpr std::int64_t november_23_2026 = 1795446601;  // t=: in the past for dkimpy

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string key_path(std::string_view name) { return cat(data_dir, "/", name, ".pem"); }

// The TXT value made by OpenSSL for a committed key (see tests/data/dkim/README.md).
std::string dns_value(std::string_view name) {
  std::string value = read_file(cat(data_dir, "/", name, ".dns.txt"));
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

// The selector defaults to the key's name, as Verifier::add_test_keys publishes them.
DkimConfig config_for(std::string_view key, std::string_view selector = "",
                      std::string_view domain = "example.com") {
  DkimConfig config;
  config.domain = std::string(domain);
  config.selector = std::string(selector.empty() ? key : selector);
  config.key_path = key_path(key);
  config.source = "job.toml:12";
  return config;
}

std::shared_ptr<const DkimSigner> load(const DkimConfig& config) {
  absl::StatusOr<std::shared_ptr<const DkimSigner>> signer = DkimSigner::load(config);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return signer.ok() ? *signer : nullptr;
}

std::string sign(std::vector<std::shared_ptr<const DkimSigner>> signers, std::string_view message,
                 std::int64_t unix_time_s = november_23_2026) {
  DkimContext context;
  std::string out;
  context.sign(signers, message, unix_time_s, out);
  return out;
}

// ---- Sample messages (CRLF), written as real senders write them ----

const std::string plain_message =
    "From: Example News <news@example.com>\r\n"
    "To: hanako@example.jp\r\n"
    "Subject: Spring sale\r\n"
    "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
    "Message-ID: <spring-2026.1.4f2a@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "Hello Hanako,\r\n"
    "\r\n"
    "Our spring sale starts today.\r\n";

// Japanese: ISO-2022-JP and UTF-8 encoded-words (RFC 2047), folded; a multipart/alternative
// body with an ISO-2022-JP text part (ESC sequences), a base64 html part, WSP at line ends,
// tabs, double spaces, and empty lines at the end.
const std::string japanese_message =
    "From: =?UTF-8?B?5bGx55Sw5ZWG5bqX?= <shop@example.com>\r\n"
    "To: =?ISO-2022-JP?B?GyRCOzNFRDJWO1IbKEI=?= <hanako@example.jp>\r\n"
    "Subject: =?UTF-8?B?44CQ5bGx55Sw5ZWG5bqX44CR5pil44Gu44K744O844Or6ZaL5YKs5Lit77yB?=\r\n"
    " =?UTF-8?B?5pyA5aSnNDAl44Kq44OV44CB5LuK44GZ44GQ44OB44Kn44OD44Kv?=\r\n"
    "Reply-To: =?ISO-2022-JP?B?GyRCPVUkTiU7ITwlaxsoQg==?= <sale@example.com>\r\n"
    "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
    "Message-ID: <spring-2026.2.77b1@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "List-Unsubscribe: <https://example.com/u/2?c=spring-2026>,\r\n"
    "\t<mailto:unsubscribe@example.com?subject=2>\r\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    "Content-Type: multipart/alternative;\r\n"
    "\tboundary=\"=_b7d1a\"\r\n"
    "\r\n"
    "--=_b7d1a\r\n"
    "Content-Type: text/plain; charset=ISO-2022-JP\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "\x1b$B$3$s$K$A$O!\"2V;RMM!#\x1b(B  \r\n"
    "\x1b$B=U$N%;!<%k$,;O$^$j$^$7$?!#\x1b(B\t\r\n"
    "Code:\t\tSPRING40   (valid  until  30 Nov)\r\n"
    "\r\n"
    "--=_b7d1a\r\n"
    "Content-Type: text/html; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "PHA+44GT44KT44Gr44Gh44Gv44CB6Iqx5a2Q5qeY44CCPC9wPg==\r\n"
    "--=_b7d1a--\r\n"
    "\r\n"
    " \r\n"
    "\r\n";

std::string long_lines_message() {
  std::string message =
      "From: news@example.com\r\n"
      "To: taro@example.org\r\n"
      "Subject: A subject that is long enough to be folded by the sender because it goes past "
      "the\r\n seventy-eight column recommendation of RFC 5322 section 2.1.1, twice over\r\n"
      "\tand more\r\n"
      "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
      "Message-ID: <x@example.com>\r\n"
      "Content-Type: text/html; charset=UTF-8\r\n"
      "\r\n";
  std::string line = "<p>";
  while (line.size() < 994) line += "lorem ipsum dolor ";
  line.resize(994);
  message += line + "</p>\r\n";  // 998 octets, RFC 5322 2.1.1's limit
  message += std::string(998, 'x') + "\r\n";
  message += "  <div>\tindented  html </div>   \r\n";
  return message;
}

// multipart/mixed with an attachment in 76-column base64 and a nested alternative part.
std::string multipart_message() {
  std::string message =
      "From: \"Example News\" <news@example.com>\r\n"
      "To: a@example.net, b@example.net\r\n"
      "Cc: c@example.net\r\n"
      "Subject: Invoice 2026-11\r\n"
      "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
      "Message-ID: <inv.3@example.com>\r\n"
      "Feedback-ID: 3:spring-2026:hayate:example\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
      "\r\n"
      "This is a multi-part message in MIME format.\r\n"
      "--outer\r\n"
      "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
      "\r\n"
      "--inner\r\n"
      "Content-Type: text/plain; charset=UTF-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n"
      "\r\n"
      "Your invoice is attached. Total: =E2=82=AC 12.00=\r\n"
      " \r\n"
      "--inner\r\n"
      "Content-Type: text/html; charset=UTF-8\r\n"
      "\r\n"
      "<p>Your invoice is attached.</p>\r\n"
      "--inner--\r\n"
      "--outer\r\n"
      "Content-Type: application/pdf; name=\"invoice.pdf\"\r\n"
      "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "\r\n";
  std::mt19937 random(7);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int line = 0; line < 20; ++line) {
    for (int i = 0; i < 76; ++i) message += alphabet[random() % 64];
    message += "\r\n";
  }
  message += "--outer--\r\n";
  return message;
}

// Runs dkim_verify.py over messages in a temporary directory.
class Verifier {
 public:
  Verifier() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dkim_test.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
    directory_ = pattern;
  }
  ~Verifier() { std::filesystem::remove_all(directory_); }

  void add_key(std::string_view selector, std::string_view domain, std::string_view value) {
    keys_ += cat(selector, "._domainkey.", domain, ".\t", value, "\n");
  }
  void add_test_keys(std::string_view domain = "example.com") {
    for (const char* key : {"rsa1024", "rsa2048", "rsa4096", "ed25519"}) {
      add_key(key, domain, dns_value(key));
    }
  }
  void add_message(std::string_view name, std::string_view message) {
    std::ofstream file(directory_ / cat(name, ".eml"), std::ios::binary);
    file << message;
  }

  // Message name -> "pass", "pass fail", "none"...
  std::map<std::string, std::string> run() {
    {
      std::ofstream keys(directory_ / "keys.txt", std::ios::binary);
      keys << keys_;
    }
    const std::string command = cat("/usr/bin/python3 ", verify_script, " ", directory_.string());
    FILE* pipe = popen(command.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    std::map<std::string, std::string> results;
    if (pipe == nullptr) return results;
    std::string output;
    char buffer[4096];
    while (std::size_t got = std::fread(buffer, 1, sizeof(buffer), pipe))
      output.append(buffer, got);
    const int status = pclose(pipe);
    EXPECT_EQ(status, 0) << "dkim_verify.py failed (is python3-dkim installed? "
                            "scripts/install-deps.sh installs it)";
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
      const std::size_t space = line.find(' ');
      if (space == std::string::npos) continue;
      const std::size_t tab = line.find('\t', space);
      const std::string name = line.substr(0, space);
      results[name] = line.substr(space + 1, tab == std::string::npos ? tab : tab - space - 1);
      if (tab != std::string::npos) reasons_[name] = line.substr(tab + 1);
    }
    return results;
  }

  // Why dkimpy failed the signatures of a message, for failure messages.
  std::string why(const std::string& name) const {
    const auto found = reasons_.find(name);
    return found == reasons_.end() ? "" : found->second;
  }

 private:
  std::filesystem::path directory_;
  std::string keys_;
  std::map<std::string, std::string> reasons_;
};

// ---- Canonicalization ----

std::string relaxed_header(std::string_view field) {
  std::string out;
  append_relaxed_header(field, out);
  return out;
}
std::string relaxed_body(std::string_view body) {
  std::string out;
  append_relaxed_body(body, out);
  return out;
}
std::string simple_body(std::string_view body) {
  std::string out;
  append_simple_body(body, out);
  return out;
}

TEST(DkimCanonicalization, Rfc6376Section346Example) {
  const std::string message =
      "A: X\r\n"
      "B : Y\t\r\n"
      "\tZ  \r\n"
      "\r\n"
      " C \r\n"
      "D \t E\r\n"
      "\r\n"
      "\r\n";
  std::vector<HeaderField> fields;
  const std::size_t body_offset = split_header_fields(message, fields);
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].name, "A");
  EXPECT_EQ(fields[0].field, "A: X\r\n");  // simple header canonicalization: as is
  EXPECT_EQ(fields[1].name, "B");
  EXPECT_EQ(fields[1].field, "B : Y\t\r\n\tZ  \r\n");
  EXPECT_EQ(relaxed_header(fields[0].field), "a:X");
  EXPECT_EQ(relaxed_header(fields[1].field), "b:Y Z");
  const std::string_view body = std::string_view(message).substr(body_offset);
  EXPECT_EQ(relaxed_body(body), " C\r\nD E\r\n");
  EXPECT_EQ(simple_body(body), " C \r\nD \t E\r\n");
}

TEST(DkimCanonicalization, BodyEdgeCases) {
  struct Case {
    std::string body, simple, relaxed;
  };
  const std::vector<Case> cases = {
      {"", "\r\n", ""},  // RFC 6376 3.4.3 / 3.4.4 (errata 1384): empty body
      {"\r\n", "\r\n", ""},
      {"\r\n\r\n\r\n", "\r\n", ""},
      {" \t \r\n\r\n", " \t \r\n", ""},  // a line of WSP is empty once relaxed
      {"a", "a\r\n", "a\r\n"},           // no CRLF at the end: one is added
      {"a \t", "a \t\r\n", "a\r\n"},     // trailing WSP of an unterminated last line
      {"a\r\n \t", "a\r\n \t\r\n", "a\r\n"},
      {"a\r\n\r\n\r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n"},
      {"a  b\t\tc \t d\r\n", "a  b\t\tc \t d\r\n", "a b c d\r\n"},
      {"\tlead\r\n", "\tlead\r\n", " lead\r\n"},  // leading WSP becomes one SP, not removed
      {"a \r\r\n", "a \r\r\n", "a \r\r\n"},       // WSP before a bare CR is not at a line end
      {"a \nb \r\n", "a \nb \r\n", "a \nb\r\n"},  // a bare LF does not end a line
      {"x\r\n\r", "x\r\n\r\r\n", "x\r\n\r\r\n"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(simple_body(c.body), c.simple) << testing::PrintToString(c.body);
    EXPECT_EQ(relaxed_body(c.body), c.relaxed) << testing::PrintToString(c.body);
  }
}

TEST(DkimCanonicalization, RelaxedHeaderCases) {
  EXPECT_EQ(relaxed_header("SUBJECT:  Hello   World  \r\n"), "subject:Hello World");
  EXPECT_EQ(relaxed_header("Subject \t:\tx\r\n"), "subject:x");
  EXPECT_EQ(relaxed_header("Subject:\r\n"), "subject:");
  EXPECT_EQ(relaxed_header("Subject:   \r\n \r\n"), "subject:");
  EXPECT_EQ(relaxed_header("To: a@example.com,\r\n\tb@example.com\r\n"),
            "to:a@example.com, b@example.com");
  // Unfolding deletes the CRLF only: "a\r\n b" keeps the space, "a\r\n\tb" gets one.
  EXPECT_EQ(relaxed_header("X-A: a\r\n b\r\n"), "x-a:a b");
  EXPECT_EQ(relaxed_header("Subject: =?UTF-8?B?5pil?=\r\n =?UTF-8?B?44K7?=\r\n"),
            "subject:=?UTF-8?B?5pil?= =?UTF-8?B?44K7?=");
  // RFC 6532 raw UTF-8 is kept byte for byte; only ASCII letters of the name are lowered.
  EXPECT_EQ(relaxed_header("Subject: \xe6\x98\xa5  \xe3\x82\xbb\r\n"),
            "subject:\xe6\x98\xa5 \xe3\x82\xbb");
  EXPECT_EQ(relaxed_header("X-\xc3\x84: v\r\n"), "x-\xc3\x84:v");
  EXPECT_EQ(relaxed_header("Received: from x (x [1.2.3.4])\r\n\tby y; Mon, 23 Nov 2026\r\n"),
            "received:from x (x [1.2.3.4]) by y; Mon, 23 Nov 2026");
}

// Line by line, as RFC 6376 3.4.3 and 3.4.4 read.
std::string reference_body(std::string_view body, bool relaxed) {
  std::vector<std::string> lines;
  std::size_t position = 0;
  for (;;) {
    const std::size_t crlf = body.find("\r\n", position);
    if (crlf == std::string_view::npos) {
      if (position < body.size()) lines.emplace_back(body.substr(position));
      break;
    }
    lines.emplace_back(body.substr(position, crlf - position));
    position = crlf + 2;
  }
  if (relaxed) {
    for (std::string& line : lines) {
      std::string compressed;
      for (char c : line) {
        const bool wsp = c == ' ' || c == '\t';
        if (wsp && !compressed.empty() && compressed.back() == ' ') continue;
        compressed += wsp ? ' ' : c;
      }
      if (!compressed.empty() && compressed.back() == ' ') compressed.pop_back();
      line = compressed;
    }
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) return relaxed ? "" : "\r\n";
  std::string out;
  for (const std::string& line : lines) out += line + "\r\n";
  return out;
}

// The relaxed body scan checks eight bytes at a time: compare it with the reference on random
// bodies full of WSP, CR and LF at every alignment.
TEST(DkimCanonicalization, BodyMatchesLineByLineReference) {
  std::mt19937 random(2026);
  const std::string alphabet = "aaaab    \t\t\r\r\n\n";
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string body(random() % 80, 'a');
    for (char& c : body) c = alphabet[random() % alphabet.size()];
    if (iteration % 3 == 0) {  // make CRLF common
      for (std::size_t i = 0; i + 1 < body.size(); ++i) {
        if (body[i] == '\r') body[i + 1] = '\n';
      }
    }
    ASSERT_EQ(relaxed_body(body), reference_body(body, true)) << testing::PrintToString(body);
    ASSERT_EQ(simple_body(body), reference_body(body, false)) << testing::PrintToString(body);
    ASSERT_EQ(relaxed_body(relaxed_body(body)), relaxed_body(body));  // idempotent
  }
}

TEST(DkimCanonicalization, AppendsWithoutTouchingWhatIsThere) {
  std::string out = "kept";
  append_relaxed_body("a  b\r\n\r\n", out);
  EXPECT_EQ(out, "kepta b\r\n");
  out = "kept\r\n";
  append_relaxed_body("\r\n", out);  // an empty relaxed body adds nothing
  EXPECT_EQ(out, "kept\r\n");
  out = "kept";
  append_relaxed_header("Subject: x", out);
  EXPECT_EQ(out, "keptsubject:x");
}

TEST(DkimSplitHeaderFields, FoldingBodiesAndHostileInput) {
  std::vector<HeaderField> fields;
  std::string message = "From: a\r\nSubject: b\r\n c\r\n\r\nbody\r\n";
  EXPECT_EQ(split_header_fields(message, fields), message.find("body"));
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[1].field, "Subject: b\r\n c\r\n");

  message = "From: a\r\nTo: b\r\n";  // no empty line: no body
  EXPECT_EQ(split_header_fields(message, fields), message.size());
  EXPECT_EQ(fields.size(), 2u);

  message = "From: a\r\nTo: b";  // unterminated last field
  EXPECT_EQ(split_header_fields(message, fields), message.size());
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[1].field, "To: b");

  message = "\r\nbody";  // no header at all
  EXPECT_EQ(split_header_fields(message, fields), 2u);
  EXPECT_TRUE(fields.empty());

  message = "no colon here\r\nX\n: y\r\n\r\n";  // bare LF is not a line end
  EXPECT_EQ(split_header_fields(message, fields), message.size());
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_EQ(fields[0].name, "");
  EXPECT_EQ(fields[1].name, "X\n");

  EXPECT_EQ(split_header_fields("", fields), 0u);
  EXPECT_TRUE(fields.empty());
}

// ---- load() ----

TEST(DkimSignerLoad, EveryKeyTypeAndItsDnsRecord) {
  struct Case {
    const char* key;
    DkimAlgorithm algorithm;
    int bits;
  };
  for (const Case& c : {Case{"rsa1024", DkimAlgorithm::rsa_sha256, 1024},
                        Case{"rsa2048", DkimAlgorithm::rsa_sha256, 2048},
                        Case{"rsa4096", DkimAlgorithm::rsa_sha256, 4096},
                        Case{"ed25519", DkimAlgorithm::ed25519_sha256, 256}}) {
    std::shared_ptr<const DkimSigner> signer = load(config_for(c.key, "sel-1.x"));
    ASSERT_NE(signer, nullptr) << c.key;
    EXPECT_EQ(signer->algorithm(), c.algorithm);
    EXPECT_EQ(signer->key_bits(), c.bits);
    EXPECT_EQ(signer->domain(), "example.com");
    // The record hayate prints is the one OpenSSL's command line derives.
    const std::string value = dns_value(c.key);
    std::string expected = "sel-1.x._domainkey.example.com. IN TXT";
    for (std::size_t i = 0; i < value.size(); i += 255) {
      append(expected, " \"", value.substr(i, 255), "\"");
    }
    EXPECT_EQ(signer->dns_txt_record(), expected);
  }
  // The traditional "BEGIN RSA PRIVATE KEY" form is the same key.
  std::shared_ptr<const DkimSigner> traditional = load(config_for("rsa1024_traditional", "s1"));
  ASSERT_NE(traditional, nullptr);
  EXPECT_EQ(traditional->key_bits(), 1024);

  DkimConfig config = config_for("ed25519");
  config.domain = "EXAMPLE.Co.JP";  // d= is written lower case
  config.algorithm = DkimAlgorithm::ed25519_sha256;
  EXPECT_EQ(load(config)->domain(), "example.co.jp");
  config.domain = "\xe4\xbe\x8b\xe3\x81\x88.jp";  // 例え.jp: d= takes A-labels (RFC 6376 3.5)
  EXPECT_EQ(load(config)->domain(), "xn--r8jz45g.jp");
}

TEST(DkimSignerLoad, ErrorsSayWhereAndWhat) {
  const std::string temp = (std::filesystem::temp_directory_path() / "dkim_garbage.pem").string();
  {
    std::ofstream garbage(temp);
    garbage << "this is not a key\n";
  }
  struct Case {
    std::string name;
    DkimConfig config;
    std::vector<std::string> expected;  // each must appear in the message
  };
  std::vector<Case> cases;
  const auto with = [](DkimConfig config, auto change) {
    change(config);
    return config;
  };
  const DkimConfig base = config_for("rsa2048");
  cases.push_back({"missing file",
                   with(base, [](DkimConfig& c) { c.key_path = "nope/k.pem"; }),
                   {"job.toml:12: [[dkim]] key file 'nope/k.pem': No such file or directory"}});
  cases.push_back({"directory",
                   with(base, [&](DkimConfig& c) { c.key_path = data_dir; }),
                   {"job.toml:12", "is a directory"}});
  const std::string fifo = temp + ".fifo";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);  // opening it must not wait for a writer
  cases.push_back({"fifo",
                   with(base, [&](DkimConfig& c) { c.key_path = fifo; }),
                   {"job.toml:12", "is not a regular file"}});
  cases.push_back({"not pem",
                   with(base, [&](DkimConfig& c) { c.key_path = temp; }),
                   {"job.toml:12", "is not a PEM private key"}});
  cases.push_back({"public key",
                   with(base, [](DkimConfig& c) { c.key_path = key_path("rsa2048_public"); }),
                   {"job.toml:12", "public key", "needs the private key"}});
  cases.push_back({"encrypted",
                   with(base, [](DkimConfig& c) { c.key_path = key_path("ed25519_encrypted"); }),
                   {"job.toml:12", "encrypted"}});
  cases.push_back({"ec key",
                   with(base, [](DkimConfig& c) { c.key_path = key_path("ec_p256"); }),
                   {"job.toml:12", "type EC (ECDSA)", "RSA", "Ed25519"}});
  cases.push_back({"rsa 512",
                   with(base, [](DkimConfig& c) { c.key_path = key_path("rsa512"); }),
                   {"job.toml:12", "RSA 512-bit key",
                    "RSA keys must be 1024 to 4096 bits; Gmail wants at least 1024, 2048 "
                    "recommended"}});
  cases.push_back({"rsa 4160",
                   with(base, [](DkimConfig& c) { c.key_path = key_path("rsa4160"); }),
                   {"RSA 4160-bit key", "RSA keys must be 1024 to 4096 bits"}});
  cases.push_back({"ed25519 given, rsa key",
                   with(base, [](DkimConfig& c) { c.algorithm = DkimAlgorithm::ed25519_sha256; }),
                   {"job.toml:12", "algorithm ed25519-sha256 was given", "an RSA 2048-bit key"}});
  cases.push_back(
      {"rsa given, ed25519 key",
       with(config_for("ed25519"), [](DkimConfig& c) { c.algorithm = DkimAlgorithm::rsa_sha256; }),
       {"algorithm rsa-sha256 was given", "an Ed25519 key"}});
  for (const char* domain : {"", "localhost", "exa_mple.com", "example..com", "-x.example.com",
                             "example.com.", "a b.com", "user@example.com"}) {
    cases.push_back({cat("domain ", domain),
                     with(base, [&](DkimConfig& c) { c.domain = domain; }),
                     {cat("job.toml:12: [[dkim]] domain '", domain, "' is not a valid domain")}});
  }
  for (const char* selector :
       {"", "s_1", "-s1", "s1-", "a..b", ".s1", "s1.", "s 1", "s\xc3\xa9", "s1;"}) {
    cases.push_back({cat("selector ", selector),
                     with(base, [&](DkimConfig& c) { c.selector = selector; }),
                     {cat("job.toml:12: [[dkim]] selector '", selector, "' is invalid")}});
  }
  cases.push_back({"selector label too long",
                   with(base, [](DkimConfig& c) { c.selector = std::string(64, 's'); }),
                   {"longer than 63 octets"}});
  cases.push_back({"no From",
                   with(base,
                        [](DkimConfig& c) {
                          c.headers = {"Subject", "To"};
                          c.oversigned_headers = {"Subject"};
                        }),
                   {"job.toml:12", "headers must include From"}});
  cases.push_back({"header twice",
                   with(base,
                        [](DkimConfig& c) {
                          c.headers = {"From", "Subject", "subject"};
                        }),
                   {"header 'subject' is listed twice in headers"}});
  cases.push_back({"oversigned twice",
                   with(base,
                        [](DkimConfig& c) {
                          c.oversigned_headers = {"From", "FROM"};
                        }),
                   {"header 'FROM' is listed twice in oversigned_headers"}});
  cases.push_back({"header name with colon",
                   with(base, [](DkimConfig& c) { c.headers.push_back("X-A:b"); }),
                   {"header name 'X-A:b' is invalid"}});
  cases.push_back({"header name with space",
                   with(base, [](DkimConfig& c) { c.headers.push_back("X A"); }),
                   {"header name 'X A' is invalid"}});
  for (const Case& c : cases) {
    absl::StatusOr<std::shared_ptr<const DkimSigner>> signer = DkimSigner::load(c.config);
    ASSERT_FALSE(signer.ok()) << c.name;
    for (const std::string& expected : c.expected) {
      EXPECT_NE(signer.status().message().find(expected), std::string::npos)
          << c.name << ": " << signer.status().message() << "\n  wanted: " << expected;
    }
  }
  std::filesystem::remove(temp);
  std::filesystem::remove(fifo);
}

TEST(DkimNames, AlgorithmsAndCanonicalizations) {
  EXPECT_EQ(dkim_algorithm_name(DkimAlgorithm::rsa_sha256), "rsa-sha256");
  EXPECT_EQ(dkim_algorithm_name(DkimAlgorithm::ed25519_sha256), "ed25519-sha256");
  EXPECT_EQ(parse_dkim_algorithm("Ed25519-SHA256"), DkimAlgorithm::ed25519_sha256);
  EXPECT_EQ(parse_dkim_algorithm("rsa-sha1"), std::nullopt);  // RFC 8301: never SHA-1
  Canonicalization header = Canonicalization::relaxed, body = Canonicalization::relaxed;
  EXPECT_TRUE(parse_dkim_canonicalization("relaxed/simple", header, body));
  EXPECT_EQ(header, Canonicalization::relaxed);
  EXPECT_EQ(body, Canonicalization::simple);
  EXPECT_TRUE(parse_dkim_canonicalization("relaxed", header, body));  // RFC 6376 3.5 c=
  EXPECT_EQ(body, Canonicalization::simple);
  EXPECT_TRUE(parse_dkim_canonicalization("simple/relaxed", header, body));
  EXPECT_EQ(header, Canonicalization::simple);
  EXPECT_EQ(body, Canonicalization::relaxed);
  EXPECT_FALSE(parse_dkim_canonicalization("relaxed/", header, body));
  EXPECT_FALSE(parse_dkim_canonicalization("nofws", header, body));
  EXPECT_FALSE(parse_dkim_canonicalization("relaxed/relaxed/x", header, body));
}

// ---- Signing ----

std::string tag(std::string_view header, std::string_view name) {
  std::string unfolded;
  for (char c : header) {
    if (c != '\r' && c != '\n') unfolded += c;
  }
  const std::string key = cat(" ", name, "=");
  std::size_t start = unfolded.find(key);
  if (start == std::string::npos) return "";
  start += key.size();
  const std::size_t end = unfolded.find(';', start);
  std::string value = unfolded.substr(start, end == std::string::npos ? end : end - start);
  std::string compact;
  for (char c : value) {
    if (c != ' ' && c != '\t') compact += c;
  }
  return compact;
}

TEST(DkimSign, ExactHeaderLayoutEd25519) {
  std::shared_ptr<const DkimSigner> signer = load(config_for("ed25519"));
  ASSERT_NE(signer, nullptr);
  // Ed25519 signatures are deterministic (RFC 8032 5.1.6), so the whole header is fixed. bh=
  // is base64(SHA-256("Hello Hanako,\r\n\r\nOur spring sale starts today.\r\n")), as
  // `printf ... | openssl dgst -sha256 -binary | base64` gives; dkimpy verifies the result.
  const std::string header = sign({signer}, plain_message);
  Verifier verifier;
  verifier.add_test_keys();
  verifier.add_message("golden", header + plain_message);
  EXPECT_EQ(verifier.run().at("golden"), "pass") << verifier.why("golden");
  EXPECT_EQ(header,
            "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;\r\n"
            " s=ed25519; t=1795446601; h=from:from:reply-to:to:to:cc:subject:subject:date:\r\n"
            " message-id:mime-version:content-type;\r\n"
            " bh=qJYzRFpVrQ11sthVmC4eoB5aWCDgHnamQM5XHyOF0oM=; b=pmlAYPsRt/2LIPRKyKJqbOTaAa\r\n"
            " Nw38J2syySXW/aCJzbWnOweWhaCiQzbtzwtYeTzUf9yO4IkN1xHWmga+w9CA==\r\n");
}

TEST(DkimSign, LayoutAndLineLengthsRsa4096) {
  DkimConfig config = config_for("rsa4096");
  config.header_canon = Canonicalization::simple;
  config.body_canon = Canonicalization::simple;
  std::shared_ptr<const DkimSigner> signer = load(config);
  ASSERT_NE(signer, nullptr);
  const std::string header = sign({signer}, japanese_message);
  ASSERT_TRUE(header.starts_with(
      "DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=example.com; s=rsa4096;\r\n"
      " t=1795446601; h=from:from:reply-to:reply-to:to:to:cc:subject:subject:date:\r\n"
      " message-id:mime-version:content-type:list-unsubscribe:list-unsubscribe-post;\r\n"
      " bh="))
      << header;
  ASSERT_TRUE(header.ends_with("\r\n"));
  std::size_t lines = 0;
  for (std::size_t start = 0; start < header.size(); ++lines) {
    const std::size_t end = header.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 78u) << header.substr(start, end - start);
    if (start > 0) {
      EXPECT_EQ(header[start], ' ');  // continuation lines
    }
    start = end + 2;
  }
  EXPECT_EQ(tag(header, "b").size(), 684u);  // 512 octets of signature in base64
  EXPECT_EQ(tag(header, "bh").size(), 44u);
  EXPECT_GE(lines, 13u);
  // Tag order of RFC 6376 3.5's example: v a c d s t h bh b.
  std::string flat;
  for (char c : header) {
    if (c != '\r' && c != '\n') flat += c;
  }
  std::size_t previous = 0;
  for (const char* name : {" v=", " a=", " c=", " d=", " s=", " t=", " h=", " bh=", " b="}) {
    const std::size_t at = flat.find(name);
    ASSERT_NE(at, std::string::npos) << name;
    EXPECT_GT(at, previous) << name;
    previous = at;
  }
}

TEST(DkimSign, OversigningAndBottomUpInstances) {
  std::shared_ptr<const DkimSigner> signer = load(config_for("ed25519"));
  ASSERT_NE(signer, nullptr);
  // One From: listed twice, so that no From can be added. Reply-To, To, Cc and Subject are
  // oversigned too (absent ones listed once: signed as absent); Date and others only as present.
  EXPECT_EQ(tag(sign({signer}, plain_message), "h"),
            "from:from:reply-to:to:to:cc:subject:subject:date:message-id:mime-version:"
            "content-type");
  EXPECT_EQ(tag(sign({signer}, multipart_message()), "h"),
            "from:from:reply-to:to:to:cc:cc:subject:subject:date:message-id:mime-version:"
            "content-type:feedback-id");
  // Two From fields (a malformed message): each signed, plus one more.
  EXPECT_EQ(tag(sign({signer}, "From: a@example.com\r\nFrom: b@example.com\r\n\r\nx\r\n"), "h"),
            "from:from:from:reply-to:to:cc:subject");

  // Without oversigning, a message that lacks From still lists it (h= must name From).
  DkimConfig plain_config = config_for("ed25519");
  plain_config.oversigned_headers = {};
  std::shared_ptr<const DkimSigner> plain = load(plain_config);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(tag(sign({plain}, "Subject: s\r\nSubject: t\r\n\r\nx\r\n"), "h"),
            "from:subject:subject");
  EXPECT_EQ(tag(sign({plain}, plain_message), "h"),
            "from:to:subject:date:message-id:mime-version:content-type");

  // Configured lists: each instance of a repeated field, bottom-up (RFC 6376 5.4.2).
  DkimConfig config = config_for("ed25519");
  config.headers = {"From", "X-Tag", "Subject"};
  config.oversigned_headers = {"From", "X-Other"};
  std::shared_ptr<const DkimSigner> custom = load(config);
  ASSERT_NE(custom, nullptr);
  const std::string message =
      "X-Tag: first\r\nFrom: a@example.com\r\nx-tag: second\r\nSubject: s\r\n\r\nbody\r\n";
  EXPECT_EQ(tag(sign({custom}, message), "h"), "from:from:x-tag:x-tag:subject:x-other");

  Verifier verifier;
  verifier.add_test_keys();
  verifier.add_message("tags", sign({custom}, message) + message);
  // Swapping the two X-Tag fields changes which one is signed first: must fail.
  const std::string swapped =
      "X-Tag: second\r\nFrom: a@example.com\r\nx-tag: first\r\nSubject: s\r\n\r\nbody\r\n";
  verifier.add_message("tags_swapped", sign({custom}, message) + swapped);
  const auto results = verifier.run();
  EXPECT_EQ(results.at("tags"), "pass");
  EXPECT_EQ(results.at("tags_swapped"), "fail");
}

TEST(DkimSign, AppendsOneHeaderPerSignerInOrder) {
  std::shared_ptr<const DkimSigner> rsa = load(config_for("rsa2048"));
  std::shared_ptr<const DkimSigner> ed = load(config_for("ed25519"));
  ASSERT_TRUE(rsa && ed);
  DkimContext context;
  std::string out = "Return-Path: <x>\r\n";
  const std::vector<std::shared_ptr<const DkimSigner>> signers = {rsa, ed};
  context.sign(signers, plain_message, november_23_2026, out);
  ASSERT_TRUE(out.starts_with("Return-Path: <x>\r\nDKIM-Signature: v=1; a=rsa-sha256;"));
  const std::size_t second = out.find("DKIM-Signature:", 20);
  ASSERT_NE(second, std::string::npos);
  EXPECT_TRUE(out.substr(second).starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
  EXPECT_EQ(out.find("DKIM-Signature:", second + 1), std::string::npos);
  const std::size_t size = out.size();
  context.sign({}, plain_message, november_23_2026, out);  // no signer: nothing
  EXPECT_EQ(out.size(), size);
}

// ---- Independent verification (dkimpy) ----

TEST(DkimVerify, EveryKeyAndCanonicalization) {
  Verifier verifier;
  verifier.add_test_keys();
  const std::vector<std::pair<std::string, std::string>> messages = {
      {"plain", plain_message},
      {"japanese", japanese_message},
      {"long", long_lines_message()},
      {"multipart", multipart_message()},
      {"empty_body", "From: a@example.com\r\nSubject: empty\r\n\r\n"},
      {"blank_body", "From: a@example.com\r\nSubject: blank\r\n\r\n\r\n  \r\n\r\n"},
  };
  std::vector<std::string> names;
  for (const char* key : {"rsa1024", "rsa2048", "rsa4096", "ed25519"}) {
    for (const char* canon :
         {"simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed"}) {
      DkimConfig config = config_for(key);
      ASSERT_TRUE(parse_dkim_canonicalization(canon, config.header_canon, config.body_canon));
      std::shared_ptr<const DkimSigner> signer = load(config);
      ASSERT_NE(signer, nullptr);
      for (const auto& [name, message] : messages) {
        std::string file = cat(key, "_", canon, "_", name);
        file[file.find('/')] = '-';
        verifier.add_message(file, sign({signer}, message) + message);
        names.push_back(file);
      }
    }
  }
  const auto results = verifier.run();
  for (const std::string& name : names) {
    EXPECT_EQ(results.count(name) ? results.at(name) : "missing", "pass")
        << name << ": " << verifier.why(name);
  }
}

TEST(DkimVerify, SeveralSignersOnOneMessage) {
  Verifier verifier;
  verifier.add_test_keys();
  verifier.add_test_keys("mail.example.net");
  DkimConfig third = config_for("rsa1024", "rsa1024", "mail.example.net");
  third.header_canon = Canonicalization::simple;
  const std::vector<std::shared_ptr<const DkimSigner>> signers = {
      load(config_for("rsa2048")), load(config_for("ed25519")), load(third)};
  // RFC 8463 5: sign with both, so that verifiers without Ed25519 use the RSA signature.
  const std::string message = multipart_message();
  verifier.add_message("three", sign(signers, message) + message);
  verifier.add_message("three_tampered", sign(signers, message) + message + "x\r\n");
  const auto results = verifier.run();
  EXPECT_EQ(results.at("three"), "pass pass pass");
  EXPECT_EQ(results.at("three_tampered"), "fail fail fail");
}

std::string replace_once(std::string text, std::string_view from, std::string_view to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(DkimVerify, TamperedMessagesFail) {
  Verifier verifier;
  verifier.add_test_keys();
  std::map<std::string, std::string> expected;
  for (const char* canon : {"simple/simple", "relaxed/relaxed", "relaxed/simple"}) {
    for (const char* key : {"rsa2048", "ed25519"}) {
      DkimConfig config = config_for(key);
      ASSERT_TRUE(parse_dkim_canonicalization(canon, config.header_canon, config.body_canon));
      std::shared_ptr<const DkimSigner> signer = load(config);
      ASSERT_NE(signer, nullptr);
      const std::string& message = japanese_message;
      const std::string signature = sign({signer}, message);
      std::string prefix = cat(key, "_", canon, "_");
      prefix[prefix.find('/')] = '-';
      const auto add = [&](std::string_view name, const std::string& text, const char* result) {
        verifier.add_message(prefix + std::string(name), signature + text);
        expected[prefix + std::string(name)] = result;
      };
      add("untouched", message, "pass");
      add("body_byte", replace_once(message, "SPRING40", "SPRING41"), "fail");
      add("body_line_added", message + "P.S. extra\r\n", "fail");
      add("subject", replace_once(message, "5pyA5aSnNDAl", "5pyA5aSnNTAl"), "fail");
      add("from_added", "From: attacker@example.org\r\n" + message, "fail");
      // Subject is oversigned: a second one above the signed one breaks the signature...
      add("subject_added", "Subject: Urgent: verify your account\r\n" + message, "fail");
      // ...whereas Date is not: verifiers take the bottom instance (5.4.2), so it still
      // passes. This shows the verifier does pick instances, and why oversigning matters.
      add("date_added_above", "Date: Tue, 24 Nov 2026 00:00:00 +0000\r\n" + message, "pass");
      add("unsigned_header_added", "X-Mailer: relay\r\n" + message, "pass");
      add("body_empty_lines_added", message + "\r\n\r\n", "pass");  // both ignore them
      const bool relaxed_body = canon == std::string_view("relaxed/relaxed");
      add("body_wsp_changed", replace_once(message, "valid  until", "valid \t until"),
          relaxed_body ? "pass" : "fail");
      const bool relaxed_header = std::string_view(canon).starts_with("relaxed");
      add("subject_refolded", replace_once(message, "?=\r\n =?UTF-8", "?=\r\n\t  =?UTF-8"),
          relaxed_header ? "pass" : "fail");
      add("header_name_case", replace_once(message, "\r\nDate:", "\r\nDATE:"),
          relaxed_header ? "pass" : "fail");
    }
  }
  const auto results = verifier.run();
  for (const auto& [name, result] : expected) {
    EXPECT_EQ(results.count(name) ? results.at(name) : "missing", result)
        << name << ": " << verifier.why(name);
  }
}

TEST(DkimVerify, BodyHashReusedForIdenticalBodies) {
  std::shared_ptr<const DkimSigner> relaxed = load(config_for("ed25519"));
  DkimConfig simple_config = config_for("rsa2048");
  simple_config.body_canon = Canonicalization::simple;
  std::shared_ptr<const DkimSigner> simple = load(simple_config);
  ASSERT_TRUE(relaxed && simple);
  const std::vector<std::shared_ptr<const DkimSigner>> signers = {relaxed, simple};
  DkimContext context;
  Verifier verifier;
  verifier.add_test_keys();
  const std::string body = "\r\nSame body for everyone.  \r\n";
  for (int i = 0; i < 3; ++i) {
    const std::string message =
        cat("From: news@example.com\r\nTo: r", i, "@example.net\r\nSubject: s\r\n", body);
    std::string out;
    context.sign(signers, message, november_23_2026, out);
    verifier.add_message(cat("same_", i), out + message);
  }
  EXPECT_EQ(context.body_hash_reuses(), 4u);  // messages 2 and 3, for both canonicalizations
  const std::string other =
      "From: news@example.com\r\nTo: r@example.net\r\nSubject: s\r\n\r\nAnother body.\r\n";
  std::string out;
  context.sign(signers, other, november_23_2026, out);
  EXPECT_EQ(context.body_hash_reuses(), 4u);
  verifier.add_message("other", out + other);
  const auto results = verifier.run();
  for (const char* name : {"same_0", "same_1", "same_2", "other"}) {
    EXPECT_EQ(results.at(name), "pass pass") << name;
  }
}

// ---- Key generation ----

// Joins the character-strings of `... IN TXT "a" "b"` and checks each is at most 255 octets.
std::string txt_value(const std::string& record) {
  std::string value;
  std::size_t position = record.find('"');
  while (position != std::string::npos) {
    const std::size_t end = record.find('"', position + 1);
    EXPECT_NE(end, std::string::npos);
    if (end == std::string::npos) break;
    EXPECT_LE(end - position - 1, 255u);
    value += record.substr(position + 1, end - position - 1);
    position = record.find('"', end + 1);
  }
  return value;
}

TEST(DkimKeygen, GeneratedKeysSignAndVerify) {
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / cat("dkim_keygen_", ::getpid());
  std::filesystem::create_directories(directory);
  Verifier verifier;
  struct Case {
    const char* selector;
    DkimAlgorithm algorithm;
    int bits;
    const char* key_type;
  };
  for (const Case& c : {Case{"rsa", DkimAlgorithm::rsa_sha256, 2048, "k=rsa"},
                        Case{"ed", DkimAlgorithm::ed25519_sha256, 0, "k=ed25519"}}) {
    const std::string path = (directory / cat(c.selector, ".pem")).string();
    std::string record;
    ASSERT_TRUE(
        generate_dkim_key(c.algorithm, c.bits, "Example.com", c.selector, path, record).ok());
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    EXPECT_TRUE(record.starts_with(cat(c.selector, "._domainkey.example.com. IN TXT \"")))
        << record;
    const std::string value = txt_value(record);
    EXPECT_TRUE(value.starts_with(cat("v=DKIM1; ", c.key_type, "; p="))) << value;
    if (c.algorithm == DkimAlgorithm::rsa_sha256) {
      EXPECT_GT(value.size(), 255u);  // a 2048-bit key needs two strings
      EXPECT_NE(record.find("\" \""), std::string::npos);
    } else {
      EXPECT_EQ(value.size(), std::string("v=DKIM1; k=ed25519; p=").size() + 44);
    }
    verifier.add_key(c.selector, "example.com", value);

    // Refuses to replace it.
    std::string again;
    const absl::Status replaced =
        generate_dkim_key(c.algorithm, c.bits, "example.com", c.selector, path, again);
    EXPECT_EQ(replaced.code(), absl::StatusCode::kAlreadyExists);
    EXPECT_NE(replaced.message().find("already exists"), std::string::npos);

    DkimConfig config;
    config.domain = "example.com";
    config.selector = c.selector;
    config.key_path = path;
    std::shared_ptr<const DkimSigner> signer = load(config);
    ASSERT_NE(signer, nullptr);
    EXPECT_EQ(signer->algorithm(), c.algorithm);
    EXPECT_EQ(signer->dns_txt_record(), record);
    verifier.add_message(c.selector, sign({signer}, japanese_message) + japanese_message);
  }
  const auto results = verifier.run();
  EXPECT_EQ(results.at("rsa"), "pass");
  EXPECT_EQ(results.at("ed"), "pass");

  std::string record;
  const absl::Status small = generate_dkim_key(DkimAlgorithm::rsa_sha256, 512, "example.com", "s1",
                                               (directory / "small.pem").string(), record);
  EXPECT_NE(small.message().find("RSA keys must be 1024 to 4096 bits"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(directory / "small.pem"));
  const absl::Status bad_selector =
      generate_dkim_key(DkimAlgorithm::ed25519_sha256, 0, "example.com", "s_1",
                        (directory / "x.pem").string(), record);
  EXPECT_NE(bad_selector.message().find("selector 's_1' is invalid"), std::string::npos);
  const absl::Status no_directory =
      generate_dkim_key(DkimAlgorithm::ed25519_sha256, 0, "example.com", "s1",
                        (directory / "no/x.pem").string(), record);
  EXPECT_NE(no_directory.message().find("No such file or directory"), std::string::npos);
  ASSERT_TRUE(generate_dkim_key(DkimAlgorithm::ed25519_sha256, 0, "\xe4\xbe\x8b\xe3\x81\x88.jp",
                                "s1", (directory / "idn.pem").string(), record)
                  .ok());
  EXPECT_TRUE(record.starts_with("s1._domainkey.xn--r8jz45g.jp. IN TXT \"v=DKIM1; k=ed25519; "))
      << record;
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace hayate::campaign
