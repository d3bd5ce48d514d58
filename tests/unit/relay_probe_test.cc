// What check makes of a relay it reached (campaign/run/relay_probe.h): the credentials need
// TLS (unless the job allows plain text, for a test server) and AUTH PLAIN or LOGIN.
#include "campaign/run/relay_probe.h"

#include <gtest/gtest.h>

namespace hayate::campaign {
namespace {

TEST(JudgeRelayTest, CredentialsNeedTlsAndAMechanismWeSpeak) {
  Route relay;
  relay.relay = true;
  relay.username = "newsletter";
  smtp::Capabilities offers;
  offers.auth_plain = true;
  offers.auth_mechanisms = "PLAIN";
  EXPECT_EQ(judge_relay(relay, true, offers), "");
  EXPECT_EQ(judge_relay(relay, false, offers),
            "the relay offers no TLS (no STARTTLS), and the password is never sent without it");
  relay.allow_plaintext_auth = true;  // a test server on loopback
  EXPECT_EQ(judge_relay(relay, false, offers), "");

  smtp::Capabilities cram;
  cram.auth_mechanisms = "CRAM-MD5 XOAUTH2";
  EXPECT_EQ(judge_relay(relay, true, cram),
            "the relay offers neither AUTH PLAIN nor AUTH LOGIN (only CRAM-MD5 XOAUTH2)");
  EXPECT_EQ(judge_relay(relay, true, smtp::Capabilities{}),
            "the relay offers no AUTH: it takes no login");
  smtp::Capabilities login;
  login.auth_login = true;
  EXPECT_EQ(judge_relay(relay, true, login), "");
}

}  // namespace
}  // namespace hayate::campaign
