// Tests for engine/dns: MX ordering, SocketAddress, the raw DNS message walk (hand-built and
// captured packets, hostile ones), and the c-ares resolver driven by a poll(2) loop against a
// scripted UDP server in this process and against a real dnsmasq on loopback.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/dns/resolver.h"
#include "engine/dns/ttl.h"
#include "engine/limits.h"

namespace hayate::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------------
// DNS wire helpers (RFC 1035 4.1), shared by the parser tests and the scripted server.

void put_u16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void put_u32(Bytes& out, std::uint32_t value) {
  put_u16(out, static_cast<std::uint16_t>(value >> 16));
  put_u16(out, static_cast<std::uint16_t>(value));
}

// "mx1.example.com" as labels; "" or "." is the root.
void put_name(Bytes& out, std::string_view dotted) {
  while (!dotted.empty() && dotted != ".") {
    const std::size_t dot = dotted.find('.');
    const std::string_view label = dotted.substr(0, dot);
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  out.push_back(0);
}

void put_pointer(Bytes& out, std::uint16_t offset) { put_u16(out, 0xc000 | offset); }

void put_header(Bytes& out, std::uint16_t id, std::uint16_t flags, std::uint16_t questions,
                std::uint16_t answers, std::uint16_t authority = 0, std::uint16_t additional = 0) {
  put_u16(out, id);
  put_u16(out, flags);
  put_u16(out, questions);
  put_u16(out, answers);
  put_u16(out, authority);
  put_u16(out, additional);
}

// Type, class, TTL and RDLENGTH after an owner name already written.
void put_record_fixed(Bytes& out, std::uint16_t type, std::uint32_t ttl_s, std::size_t rdata_bytes,
                      std::uint16_t rr_class = rr_class_in) {
  put_u16(out, type);
  put_u16(out, rr_class);
  put_u32(out, ttl_s);
  put_u16(out, static_cast<std::uint16_t>(rdata_bytes));
}

Bytes mx_rdata(std::uint16_t preference, std::string_view exchange) {
  Bytes rdata;
  put_u16(rdata, preference);
  put_name(rdata, exchange);
  return rdata;
}

Bytes a_rdata(const char* ip) {
  Bytes rdata(4);
  EXPECT_EQ(inet_pton(AF_INET, ip, rdata.data()), 1) << ip;
  return rdata;
}

Bytes aaaa_rdata(const char* ip) {
  Bytes rdata(16);
  EXPECT_EQ(inet_pton(AF_INET6, ip, rdata.data()), 1) << ip;
  return rdata;
}

Bytes name_rdata(std::string_view target) {
  Bytes rdata;
  put_name(rdata, target);
  return rdata;
}

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// A response with one question (`name`, `type`) and answers owned by the question name.
struct Answer {
  std::uint16_t type;
  std::uint32_t ttl_s;
  Bytes rdata;
};

Bytes response(std::string_view name, std::uint16_t type, const std::vector<Answer>& answers,
               std::uint8_t rcode = 0) {
  Bytes out;
  put_header(out, 0x1234, 0x8180 | rcode, 1, static_cast<std::uint16_t>(answers.size()));
  put_name(out, name);
  put_u16(out, type);
  put_u16(out, rr_class_in);
  for (const Answer& answer : answers) {
    put_pointer(out, dns_header_bytes);
    put_record_fixed(out, answer.type, answer.ttl_s, answer.rdata.size());
    out.insert(out.end(), answer.rdata.begin(), answer.rdata.end());
  }
  return out;
}

MessageParse parse(const Bytes& message, std::uint16_t type, AnswerTtl& out) {
  return parse_answer_ttl(std::span<const std::uint8_t>(message.data(), message.size()), type, out);
}

// ---------------------------------------------------------------------------------------------
// order_mx_hosts

std::vector<MxHost> hosts_of(const std::vector<std::pair<std::string, std::uint16_t>>& list) {
  std::vector<MxHost> hosts;
  for (const auto& [name, preference] : list) hosts.push_back(MxHost{name, preference, {}});
  return hosts;
}

std::string names_of(const std::vector<MxHost>& hosts) {
  std::string out;
  for (const MxHost& host : hosts)
    absl::StrAppend(&out, out.empty() ? "" : " ", host.preference, ":", host.name);
  return out;
}

TEST(OrderMxHosts, SortsByPreferenceAscending) {
  auto hosts =
      hosts_of({{"c.example", 30}, {"a.example", 10}, {"b.example", 20}, {"z.example", 0}});
  order_mx_hosts(hosts, 1);
  EXPECT_EQ(names_of(hosts), "0:z.example 10:a.example 20:b.example 30:c.example");
}

TEST(OrderMxHosts, EmptyListStaysEmpty) {
  std::vector<MxHost> hosts;
  order_mx_hosts(hosts, 7);
  EXPECT_TRUE(hosts.empty());
}

TEST(OrderMxHosts, SameSeedSameOrderWhateverTheInputOrder) {
  auto forward = hosts_of({{"a.example", 5}, {"b.example", 5}, {"c.example", 5}, {"d.example", 9}});
  auto backward =
      hosts_of({{"d.example", 9}, {"c.example", 5}, {"b.example", 5}, {"a.example", 5}});
  order_mx_hosts(forward, 42);
  order_mx_hosts(backward, 42);
  EXPECT_EQ(names_of(forward), names_of(backward));
  EXPECT_EQ(forward.back().name, "d.example");
}

TEST(OrderMxHosts, EqualPreferencesAppearInBothOrdersAcrossSeeds) {
  std::set<std::string> orders;
  int a_first = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    auto hosts = hosts_of({{"b.example", 10}, {"a.example", 10}, {"backup.example", 20}});
    order_mx_hosts(hosts, seed);
    ASSERT_EQ(hosts.size(), 3u);
    EXPECT_EQ(hosts[2].name, "backup.example");  // never shuffled across preferences
    if (hosts[0].name == "a.example") ++a_first;
    orders.insert(names_of(hosts));
  }
  EXPECT_EQ(orders, (std::set<std::string>{"10:a.example 10:b.example 20:backup.example",
                                           "10:b.example 10:a.example 20:backup.example"}));
  // A fair shuffle: 200 draws of a coin land between 70 and 130 heads (p > 0.99999).
  EXPECT_GT(a_first, 70);
  EXPECT_LT(a_first, 130);
}

TEST(OrderMxHosts, ThreeEqualHostsReachAllSixPermutations) {
  std::set<std::string> orders;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    auto hosts = hosts_of({{"a.x", 1}, {"b.x", 1}, {"c.x", 1}});
    order_mx_hosts(hosts, seed);
    orders.insert(names_of(hosts));
  }
  EXPECT_EQ(orders.size(), 6u);
}

TEST(OrderMxHosts, KeepsTheMostPreferredUpToTheLimit) {
  std::vector<MxHost> hosts;
  for (std::uint16_t i = 40; i > 0; --i)
    hosts.push_back(MxHost{absl::StrCat("mx", i, ".example"), i, {}});
  order_mx_hosts(hosts, 3);
  ASSERT_EQ(hosts.size(), limits::mx_hosts_max);
  for (std::size_t i = 0; i < hosts.size(); ++i) EXPECT_EQ(hosts[i].preference, i + 1);
}

TEST(OrderMxHosts, TruncationAmongEqualPreferencesKeepsARandomSubset) {
  std::set<std::string> kept_last;
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    std::vector<MxHost> hosts;
    for (int i = 0; i < 20; ++i) hosts.push_back(MxHost{absl::StrCat("mx", i, ".example"), 10, {}});
    order_mx_hosts(hosts, seed);
    ASSERT_EQ(hosts.size(), limits::mx_hosts_max);
    kept_last.insert(hosts.back().name);
  }
  EXPECT_GT(kept_last.size(), 5u);
}

TEST(OrderMxHosts, DuplicateNameKeptOnceWithItsLowestPreference) {
  auto hosts = hosts_of({{"mx.example", 20}, {"other.example", 10}, {"mx.example", 5}});
  order_mx_hosts(hosts, 9);
  EXPECT_EQ(names_of(hosts), "5:mx.example 10:other.example");
}

// ---------------------------------------------------------------------------------------------
// SocketAddress

std::string round_trip(std::string_view text, std::uint16_t default_port = 53) {
  SocketAddress address;
  if (!SocketAddress::parse(text, default_port, address)) return "<rejected>";
  return address.to_string();
}

TEST(SocketAddress, ParsesEveryAcceptedForm) {
  EXPECT_EQ(round_trip("1.2.3.4"), "1.2.3.4:53");
  EXPECT_EQ(round_trip("1.2.3.4:25"), "1.2.3.4:25");
  EXPECT_EQ(round_trip("127.0.0.1:65535"), "127.0.0.1:65535");
  EXPECT_EQ(round_trip("[::1]:25"), "[::1]:25");
  EXPECT_EQ(round_trip("[::1]"), "[::1]:53");
  EXPECT_EQ(round_trip("::1"), "[::1]:53");
  EXPECT_EQ(round_trip("2001:db8::25"), "[2001:db8::25]:53");  // bare IPv6: no port in it
  EXPECT_EQ(round_trip("[2001:DB8:0:0:0:0:0:1]:587"), "[2001:db8::1]:587");
  EXPECT_EQ(round_trip("::ffff:192.0.2.1", 25), "[::ffff:192.0.2.1]:25");
}

TEST(SocketAddress, SetsFamilyLengthAndNetworkOrderPort) {
  SocketAddress v4;
  ASSERT_TRUE(SocketAddress::parse("192.0.2.3:2525", 25, v4));
  EXPECT_EQ(v4.length, sizeof(sockaddr_in));
  const auto& in4 = reinterpret_cast<const sockaddr_in&>(v4.storage);
  EXPECT_EQ(in4.sin_family, AF_INET);
  EXPECT_EQ(ntohs(in4.sin_port), 2525);
  EXPECT_EQ(ntohl(in4.sin_addr.s_addr), 0xc0000203u);  // 192.0.2.3 (TEST-NET-1)
  SocketAddress v6;
  ASSERT_TRUE(SocketAddress::parse("[::2]:26", 25, v6));
  EXPECT_EQ(v6.length, sizeof(sockaddr_in6));
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6&>(v6.storage).sin6_family, AF_INET6);
}

TEST(SocketAddress, RejectsMalformedText) {
  for (const char* text : {"",
                           ":",
                           ":25",
                           "1.2.3.4:",
                           "1.2.3.4:0",
                           "1.2.3.4:65536",
                           "1.2.3.4:99999999",
                           "1.2.3.4:-1",
                           "1.2.3.4:+25",
                           "1.2.3.4:2 5",
                           "1.2.3.4: 25",
                           " 1.2.3.4",
                           "1.2.3.4 ",
                           "1.2.3",
                           "1.2.3.4.5",
                           "256.1.1.1",
                           "01.2.3.4",
                           "[1.2.3.4]:25",
                           "[::1",
                           "[::1]25",
                           "[::1]:",
                           "[::1]:x",
                           "[]:25",
                           "::1]",
                           "fe80::1%eth0",
                           "example.com",
                           "example.com:25",
                           "1.2.3.4:25:25",
                           "[::1]:25:25"}) {
    SocketAddress out;
    out.length = 77;  // untouched on failure
    EXPECT_FALSE(SocketAddress::parse(text, 25, out)) << text;
    EXPECT_EQ(out.length, 77u) << text;
  }
}

TEST(SocketAddress, ToStringOfAnEmptyAddress) { EXPECT_EQ(SocketAddress{}.to_string(), "<none>"); }

std::string ip_of(const char* text) {
  SocketAddress address;
  if (!SocketAddress::parse(text, 25, address)) return "<rejected>";
  return address.ip_string();
}

TEST(SocketAddress, IpStringHasNoPortAndNoBrackets) {
  EXPECT_EQ(ip_of("192.0.2.1:2525"), "192.0.2.1");
  EXPECT_EQ(ip_of("[2001:DB8::1]:25"), "2001:db8::1");
  EXPECT_EQ(ip_of("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
  EXPECT_EQ(SocketAddress{}.ip_string(), "<none>");
}

// ---------------------------------------------------------------------------------------------
// reverse_lookup_name

std::string reverse_of(const char* text) {
  SocketAddress address;
  EXPECT_TRUE(SocketAddress::parse(text, 25, address)) << text;
  return reverse_lookup_name(address);
}

TEST(ReverseLookupName, Ipv4OctetsReversed) {  // RFC 1035 3.5
  EXPECT_EQ(reverse_of("192.0.2.1"), "1.2.0.192.in-addr.arpa");
  EXPECT_EQ(reverse_of("10.20.30.40:587"), "40.30.20.10.in-addr.arpa");  // the port is ignored
  EXPECT_EQ(reverse_of("0.0.0.0"), "0.0.0.0.in-addr.arpa");
  EXPECT_EQ(reverse_of("255.255.255.255"), "255.255.255.255.in-addr.arpa");
}

TEST(ReverseLookupName, Ipv6NibblesReversed) {
  // RFC 3596 2.5, its own example address 4321:0:1:2:3:4:567:89ab.
  EXPECT_EQ(reverse_of("4321:0:1:2:3:4:567:89ab"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa");
  EXPECT_EQ(reverse_of("::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
  // An IPv4-mapped address is an IPv6 address: its PTR lives under ip6.arpa.
  EXPECT_EQ(reverse_of("::ffff:192.0.2.1"),
            "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
}

TEST(ReverseLookupName, NoFamilyNoName) {
  EXPECT_EQ(reverse_lookup_name(SocketAddress{}), "");
  SocketAddress short_v6;
  short_v6.storage.ss_family = AF_INET6;
  short_v6.length = sizeof(sockaddr_in);  // too short to hold an IPv6 address
  EXPECT_EQ(reverse_lookup_name(short_v6), "");
}

// ---------------------------------------------------------------------------------------------
// parse_answer_ttl / read_name

TEST(AnswerTtl, MinimumOverMxRecords) {
  const Bytes message = response("example.com", rr_type_mx,
                                 {{rr_type_mx, 3600, mx_rdata(10, "mx1.example.com")},
                                  {rr_type_mx, 300, mx_rdata(20, "mx2.example.com")},
                                  {rr_type_mx, 900, mx_rdata(30, "mx3.example.com")}});
  AnswerTtl ttl;
  ASSERT_EQ(parse(message, rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.id, 0x1234);
  EXPECT_EQ(ttl.rcode, 0);
  EXPECT_FALSE(ttl.truncated_flag);
  EXPECT_EQ(ttl.question_count, 1);
  EXPECT_EQ(ttl.answer_count, 3);
  EXPECT_EQ(ttl.question_name, "example.com");
  EXPECT_EQ(ttl.question_type, rr_type_mx);
  EXPECT_EQ(ttl.records_matched, 3);
  EXPECT_EQ(ttl.ttl_min_s, 300u);
}

TEST(AnswerTtl, CnameChainCountsOtherTypesAndClassesDoNot) {
  Bytes message;
  put_header(message, 7, 0x8180, 1, 4);
  put_name(message, "Example.COM");  // at 12
  put_u16(message, rr_type_mx);
  put_u16(message, rr_class_in);
  put_pointer(message, 12);
  const Bytes cname = name_rdata("mail.example.net");
  const std::size_t cname_rdata_offset = message.size() + 10;
  put_record_fixed(message, rr_type_cname, 120, cname.size());
  message.insert(message.end(), cname.begin(), cname.end());
  // The MX owned by the CNAME target, with its name compressed to the RDATA above.
  put_pointer(message, static_cast<std::uint16_t>(cname_rdata_offset));
  const Bytes mx = mx_rdata(5, "mx.example.net");
  put_record_fixed(message, rr_type_mx, 86400, mx.size());
  message.insert(message.end(), mx.begin(), mx.end());
  put_pointer(message, 12);  // a TXT record does not count...
  put_record_fixed(message, 16, 10, 1);
  message.push_back(0);
  put_pointer(message, 12);  // ...nor an MX of class CH
  put_record_fixed(message, rr_type_mx, 1, mx.size(), 3);
  message.insert(message.end(), mx.begin(), mx.end());
  AnswerTtl ttl;
  ASSERT_EQ(parse(message, rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.question_name, "example.com");  // lower-cased
  EXPECT_EQ(ttl.answer_count, 4);
  EXPECT_EQ(ttl.records_matched, 2);
  EXPECT_EQ(ttl.ttl_min_s, 120u);
}

TEST(AnswerTtl, NoMatchingRecordGivesZeroMatches) {
  AnswerTtl ttl;
  ASSERT_EQ(parse(response("example.com", rr_type_mx, {}), rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.records_matched, 0);
  EXPECT_EQ(ttl.ttl_min_s, 0u);
  ASSERT_EQ(parse(response("a.example", rr_type_a, {{rr_type_a, 60, a_rdata("192.0.2.1")}}),
                  rr_type_mx, ttl),
            MessageParse::ok);
  EXPECT_EQ(ttl.records_matched, 0);
}

TEST(AnswerTtl, TtlWithTopBitSetReadsAsZero) {  // RFC 2181 8
  AnswerTtl ttl;
  const Bytes message = response("example.com", rr_type_mx,
                                 {{rr_type_mx, 0x8000'0000u, mx_rdata(10, "mx.example.com")},
                                  {rr_type_mx, 600, mx_rdata(20, "mx2.example.com")}});
  ASSERT_EQ(parse(message, rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.ttl_min_s, 0u);
  const Bytes largest = response("example.com", rr_type_mx,
                                 {{rr_type_mx, 0x7fff'ffffu, mx_rdata(10, "mx.example.com")}});
  ASSERT_EQ(parse(largest, rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.ttl_min_s, 0x7fff'ffffu);
}

TEST(AnswerTtl, ReadsRcodeAndTruncationFlag) {
  AnswerTtl ttl;
  ASSERT_EQ(parse(response("gone.example", rr_type_mx, {}, 3), rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.rcode, 3);
  Bytes truncated = response("big.example", rr_type_mx, {});
  truncated[2] |= 0x02;
  ASSERT_EQ(parse(truncated, rr_type_mx, ttl), MessageParse::ok);
  EXPECT_TRUE(ttl.truncated_flag);
}

// Captured from dnsmasq 2.90 (Debian 12), run with --mx-host=multi.test,mx1.multi.test,10
// --mx-host=multi.test,mx2.multi.test,20 --host-record=mx1.multi.test,127.0.0.2: the MX answer
// with an additional A record, exchange names uncompressed, TTL 0 (dnsmasq's --local-ttl).
const char* const dnsmasq_multi_mx =
    "26fa85800001000200000001056d756c7469047465737400000f0001c00c000f00010000000000120014036d78"
    "32056d756c7469047465737400c00c000f0001000000000012000a036d7831056d756c7469047465737400c048"
    "000100010000000000047f000002";
// The same dnsmasq: NXDOMAIN for nope.test MX, and "0 ." for nullmx.test (RFC 7505).
const char* const dnsmasq_nxdomain = "97be81830001000000000000046e6f7065047465737400000f0001";
const char* const dnsmasq_null_mx =
    "a3a385800001000100000000066e756c6c6d78047465737400000f0001c00c000f0001000000000003000000";

TEST(AnswerTtl, CapturedDnsmasqAnswers) {
  AnswerTtl ttl;
  ASSERT_EQ(parse(from_hex(dnsmasq_multi_mx), rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.id, 0x26fa);
  EXPECT_EQ(ttl.question_name, "multi.test");
  EXPECT_EQ(ttl.answer_count, 2);
  EXPECT_EQ(ttl.records_matched, 2);
  EXPECT_EQ(ttl.ttl_min_s, 0u);
  ASSERT_EQ(parse(from_hex(dnsmasq_nxdomain), rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.rcode, 3);
  EXPECT_EQ(ttl.question_name, "nope.test");
  ASSERT_EQ(parse(from_hex(dnsmasq_null_mx), rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.records_matched, 1);
  // The exchange of the null MX is the root: RDATA 00 00 | 00.
  const Bytes null_mx = from_hex(dnsmasq_null_mx);
  std::string exchange = "unset";
  std::size_t next = 0;
  ASSERT_EQ(read_name(null_mx, null_mx.size() - 1, &exchange, next), MessageParse::ok);
  EXPECT_EQ(exchange, "");
  EXPECT_EQ(next, null_mx.size());
}

// The shape of a public resolver's answer for a large provider: five MX records whose names
// compress against each other and the question (gmail.com, as answered in 2024).
TEST(AnswerTtl, RealWorldCompressedMxSet) {
  Bytes message;
  put_header(message, 0xbeef, 0x8180, 1, 5);
  put_name(message, "gmail.com");  // 12..22
  put_u16(message, rr_type_mx);
  put_u16(message, rr_class_in);
  const std::vector<std::pair<std::uint16_t, std::uint32_t>> records = {
      {5, 3600}, {10, 3599}, {20, 3600}, {30, 3600}, {40, 3600}};
  std::uint16_t first_exchange = 0;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < records.size(); ++i) {
    put_pointer(message, 12);
    Bytes rdata;
    put_u16(rdata, records[i].first);
    if (i == 0) {  // gmail-smtp-in.l.google.com, with "com" pointing into the question
      first_exchange = static_cast<std::uint16_t>(message.size() + 10 + 2);
      for (std::string_view label : {"gmail-smtp-in", "l", "google"}) {
        rdata.push_back(static_cast<std::uint8_t>(label.size()));
        rdata.insert(rdata.end(), label.begin(), label.end());
      }
      put_pointer(rdata, 12 + 6);
    } else {  // altN.gmail-smtp-in.l.google.com
      const std::string label = absl::StrCat("alt", i);
      rdata.push_back(static_cast<std::uint8_t>(label.size()));
      rdata.insert(rdata.end(), label.begin(), label.end());
      put_pointer(rdata, first_exchange);
    }
    put_record_fixed(message, rr_type_mx, records[i].second, rdata.size());
    const std::size_t exchange_offset = message.size() + 2;
    message.insert(message.end(), rdata.begin(), rdata.end());
    std::string name;
    std::size_t next = 0;
    ASSERT_EQ(read_name(message, exchange_offset, &name, next), MessageParse::ok);
    names.push_back(name);
  }
  AnswerTtl ttl;
  ASSERT_EQ(parse(message, rr_type_mx, ttl), MessageParse::ok);
  EXPECT_EQ(ttl.records_matched, 5);
  EXPECT_EQ(ttl.ttl_min_s, 3599u);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "gmail-smtp-in.l.google.com", "alt1.gmail-smtp-in.l.google.com",
                       "alt2.gmail-smtp-in.l.google.com", "alt3.gmail-smtp-in.l.google.com",
                       "alt4.gmail-smtp-in.l.google.com"}));
}

TEST(AnswerTtl, EveryProperPrefixIsTruncated) {
  const Bytes message = from_hex(dnsmasq_multi_mx);
  // The additional section is not read: the message ends for the parser after the answers.
  AnswerTtl ttl;
  const std::size_t answers_end = message.size() - 16;
  for (std::size_t size = 0; size < answers_end; ++size) {
    const Bytes prefix(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_EQ(parse(prefix, rr_type_mx, ttl), MessageParse::truncated) << size;
  }
  const Bytes answers_only(message.begin(),
                           message.begin() + static_cast<std::ptrdiff_t>(answers_end));
  EXPECT_EQ(parse(answers_only, rr_type_mx, ttl), MessageParse::ok);
}

TEST(AnswerTtl, CountsPromisingMoreThanTheMessageHolds) {
  Bytes message =
      response("example.com", rr_type_mx, {{rr_type_mx, 60, mx_rdata(1, "mx.example.com")}});
  message[7] = 2;  // ANCOUNT 2, one present
  AnswerTtl ttl;
  EXPECT_EQ(parse(message, rr_type_mx, ttl), MessageParse::truncated);
  message[7] = 1;
  message[5] = 0xff;  // QDCOUNT 255
  EXPECT_EQ(parse(message, rr_type_mx, ttl), MessageParse::truncated);
  Bytes rdata_overrun = response("example.com", rr_type_mx, {{rr_type_mx, 60, mx_rdata(1, "mx")}});
  rdata_overrun[rdata_overrun.size() - 8] = 0x40;  // RDLENGTH 0x40xx, beyond the end
  EXPECT_EQ(parse(rdata_overrun, rr_type_mx, ttl), MessageParse::truncated);
}

TEST(ReadName, CompressionLoopsAndForwardPointersAreMalformed) {
  std::string name;
  std::size_t next = 0;
  Bytes self;
  put_header(self, 1, 0, 1, 0);
  put_pointer(self, 12);  // a pointer to itself
  EXPECT_EQ(read_name(self, 12, &name, next), MessageParse::malformed);

  Bytes pair;
  put_header(pair, 1, 0, 1, 0);
  put_pointer(pair, 14);  // 12 -> 14 (forward)
  put_pointer(pair, 12);  // 14 -> 12 (backward, then forward again: a loop)
  EXPECT_EQ(read_name(pair, 12, &name, next), MessageParse::malformed);
  EXPECT_EQ(read_name(pair, 14, &name, next), MessageParse::malformed);

  // A label sequence whose pointer lands back inside itself: "a" "b" -> "a" ...
  Bytes inner;
  put_header(inner, 1, 0, 1, 0);
  inner.insert(inner.end(), {1, 'a', 1, 'b'});
  put_pointer(inner, 14);  // points at "b", which is part of this very name
  EXPECT_EQ(read_name(inner, 12, &name, next), MessageParse::malformed);

  Bytes into_header;
  put_header(into_header, 1, 0, 1, 0);
  put_pointer(into_header, 4);
  EXPECT_EQ(read_name(into_header, 12, &name, next), MessageParse::malformed);
}

TEST(ReadName, PointerChainsFollowBackwards) {
  Bytes message;
  put_header(message, 1, 0, 0, 0);
  put_name(message, "test");                                    // 12
  message.insert(message.end(), {5, 'm', 'u', 'l', 't', 'i'});  // 18
  put_pointer(message, 12);
  message.insert(message.end(), {3, 'M', 'X', '1'});  // 26
  put_pointer(message, 18);
  std::string name;
  std::size_t next = 0;
  ASSERT_EQ(read_name(message, 26, &name, next), MessageParse::ok);
  EXPECT_EQ(name, "mx1.multi.test");
  EXPECT_EQ(next, 32u);
  ASSERT_EQ(read_name(message, 30, nullptr, next), MessageParse::ok);  // a bare pointer
  EXPECT_EQ(next, 32u);
}

TEST(ReadName, ReservedLabelTypesAndOverlongNames) {
  std::string name;
  std::size_t next = 0;
  for (std::uint8_t kind : {0x40, 0x80}) {
    Bytes message;
    put_header(message, 1, 0, 1, 0);
    message.insert(message.end(), {static_cast<std::uint8_t>(kind | 1), 'a', 0});
    EXPECT_EQ(read_name(message, 12, &name, next), MessageParse::malformed) << int{kind};
  }
  // RFC 1035 3.1: 255 octets on the wire at most. Four 63-octet labels make 257.
  Bytes longest;
  put_header(longest, 1, 0, 1, 0);
  for (int label = 0; label < 4; ++label) {
    const int length = label < 3 ? 63 : 61;  // 3 * 64 + 62 + 1 = 255
    longest.push_back(static_cast<std::uint8_t>(length));
    longest.insert(longest.end(), static_cast<std::size_t>(length), 'x');
  }
  longest.push_back(0);
  ASSERT_EQ(read_name(longest, 12, &name, next), MessageParse::ok);
  EXPECT_EQ(name.size(), 253u);
  Bytes too_long = longest;
  too_long[12 + 3 * 64] = 62;  // one more octet in the last label
  too_long.insert(too_long.begin() + 12 + 3 * 64 + 1, 'x');
  EXPECT_EQ(read_name(too_long, 12, &name, next), MessageParse::malformed);
  // The same limit holds when the long name is assembled through pointers.
  Bytes via_pointers = longest;
  via_pointers.insert(via_pointers.end(), {2, 'y', 'y'});
  put_pointer(via_pointers, 12);
  EXPECT_EQ(read_name(via_pointers, longest.size(), &name, next), MessageParse::malformed);
}

TEST(ReadName, EndsInsideALabelOrPointer) {
  std::string name;
  std::size_t next = 0;
  const Bytes label_cut = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a', 'b'};
  EXPECT_EQ(read_name(label_cut, 12, &name, next), MessageParse::truncated);
  const Bytes pointer_cut = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0};
  EXPECT_EQ(read_name(pointer_cut, 12, &name, next), MessageParse::truncated);
  EXPECT_EQ(read_name(pointer_cut, 99, &name, next), MessageParse::truncated);
}

TEST(AnswerTtl, HostileMutationsNeverCrash) {
  // Every single-byte change of a real answer parses to some result, within bounds.
  const Bytes original = from_hex(dnsmasq_multi_mx);
  AnswerTtl ttl;
  int ok = 0;
  for (std::size_t i = 0; i < original.size(); ++i) {
    for (int value : {0x00, 0x01, 0x3f, 0x40, 0x80, 0xc0, 0xc1, 0xff}) {
      Bytes mutated = original;
      mutated[i] = static_cast<std::uint8_t>(value);
      if (parse(mutated, rr_type_mx, ttl) == MessageParse::ok) {
        ++ok;
        EXPECT_LE(ttl.records_matched, ttl.answer_count);
        EXPECT_LE(ttl.ttl_min_s, dns_ttl_max_valid_s);
      }
    }
  }
  EXPECT_GT(ok, 0);
}

// ---------------------------------------------------------------------------------------------
// A poll(2) loop playing the owner of the resolver, as a shard does with io_uring.

std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class PollLoop final : public SocketWatcher {
 public:
  void watch_socket(int fd, bool readable, bool writable) override {
    if (!readable && !writable) {
      watched_.erase(fd);
    } else {
      watched_[fd] = static_cast<short>((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
    }
    if (writable) saw_writable_ = true;
  }

  void attach(Resolver* resolver) { resolver_ = resolver; }
  void add_fd(int fd, std::function<void()> on_readable) { extra_[fd] = std::move(on_readable); }
  std::size_t watched_count() const { return watched_.size(); }
  bool saw_writable() const { return saw_writable_; }  // a TCP connect (TC answer fallback)

  // Runs until `done` holds or `timeout_ms` passes; on_tick only when next_timeout_ms() says.
  bool run_until(const std::function<bool()>& done, std::int64_t timeout_ms = 5000) {
    const std::int64_t deadline_ms = monotonic_ms() + timeout_ms;
    while (!done()) {
      const std::int64_t now_ms = monotonic_ms();
      if (now_ms >= deadline_ms) return false;
      const std::int64_t tick_ms = resolver_ != nullptr ? resolver_->next_timeout_ms() : -1;
      std::int64_t wait_ms = deadline_ms - now_ms;
      if (tick_ms >= 0) wait_ms = std::min(wait_ms, tick_ms);
      std::vector<pollfd> fds;
      for (const auto& [fd, events] : watched_) fds.push_back(pollfd{fd, events, 0});
      for (const auto& [fd, handler] : extra_) fds.push_back(pollfd{fd, POLLIN, 0});
      const int ready = poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
      if (ready < 0) return false;
      for (const pollfd& entry : fds) {
        if (entry.revents == 0) continue;
        if (auto extra = extra_.find(entry.fd); extra != extra_.end()) {
          extra->second();
        } else if (resolver_ != nullptr && watched_.contains(entry.fd)) {
          resolver_->on_socket_ready(entry.fd, (entry.revents & (POLLIN | POLLERR | POLLHUP)) != 0,
                                     (entry.revents & POLLOUT) != 0);
        }
      }
      if (resolver_ != nullptr && tick_ms >= 0 && monotonic_ms() >= now_ms + tick_ms) {
        resolver_->on_tick();
      }
    }
    return true;
  }

 private:
  Resolver* resolver_ = nullptr;
  std::map<int, short> watched_;
  std::map<int, std::function<void()>> extra_;
  bool saw_writable_ = false;
};

// A non-blocking UDP socket bound to a free port of 127.0.0.1 (or ::1).
int bound_udp_socket(std::uint16_t& port, int family = AF_INET) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  SocketAddress address;
  EXPECT_TRUE(SocketAddress::parse(family == AF_INET ? "127.0.0.1" : "::1", 0, address));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address.storage), address.length), 0)
      << address.to_string();
  socklen_t length = sizeof(address.storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address.storage), &length);
  port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in&>(address.storage).sin_port
                                 : reinterpret_cast<sockaddr_in6&>(address.storage).sin6_port);
  return fd;
}

SocketAddress loopback(std::uint16_t port) {
  SocketAddress address;
  EXPECT_TRUE(SocketAddress::parse("127.0.0.1", port, address));
  return address;
}

// "ok implicit [10 mx1.test 127.0.0.2:25 [::2]:25] [20 mx2.test]" or "no_domain: NXDOMAIN".
std::string describe(const MxAnswer& answer) {
  static const char* const outcomes[] = {"ok", "no_domain", "null_mx", "temporary"};
  std::string out = outcomes[static_cast<int>(answer.outcome)];
  if (!answer.error.empty()) absl::StrAppend(&out, ": ", answer.error);
  if (answer.implicit) absl::StrAppend(&out, " implicit");
  for (const MxHost& host : answer.hosts) {
    absl::StrAppend(&out, " [", host.preference, " ", host.name);
    for (const SocketAddress& address : host.addresses)
      absl::StrAppend(&out, " ", address.to_string());
    absl::StrAppend(&out, "]");
  }
  return out;
}

std::string describe(const HostAnswer& answer) {
  MxAnswer as_mx;
  as_mx.outcome = answer.outcome;
  as_mx.error = answer.error;
  std::string out = describe(as_mx);
  for (const SocketAddress& address : answer.addresses)
    absl::StrAppend(&out, " ", address.to_string());
  return out;
}

// "ok mta.example.test other.example.test" or "no_domain: no PTR record".
std::string describe(const PtrAnswer& answer) {
  MxAnswer as_mx;
  as_mx.outcome = answer.outcome;
  as_mx.error = answer.error;
  std::string out = describe(as_mx);
  for (const std::string& name : answer.names) absl::StrAppend(&out, " ", name);
  return out;
}

constexpr std::uint16_t rr_type_ptr = 12;  // RFC 1035 3.3.12
constexpr std::uint16_t rr_type_txt = 16;  // RFC 1035 3.3.14

// TXT RDATA: each string as a length octet and its bytes.
Bytes txt_rdata(const std::vector<std::string>& strings) {
  Bytes rdata;
  for (const std::string& string : strings) {
    rdata.push_back(static_cast<std::uint8_t>(string.size()));
    rdata.insert(rdata.end(), string.begin(), string.end());
  }
  return rdata;
}

// "ok [v=spf1 -all] [v=DKIM1; p=...]" or "no_domain: no TXT record".
std::string describe(const TxtAnswer& answer) {
  MxAnswer as_mx;
  as_mx.outcome = answer.outcome;
  as_mx.error = answer.error;
  std::string out = describe(as_mx);
  for (const std::string& record : answer.records) absl::StrAppend(&out, " [", record, "]");
  return out;
}

// ---------------------------------------------------------------------------------------------
// A scripted DNS server on 127.0.0.1, answered from the same poll loop: exact records, TTLs,
// failures and silences, and a count of every question it received.

class ScriptedDnsServer {
 public:
  explicit ScriptedDnsServer(int family = AF_INET) { fd_ = bound_udp_socket(port_, family); }
  ~ScriptedDnsServer() { close(fd_); }

  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }

  void add(const std::string& name, std::uint16_t type, std::uint32_t ttl_s, Bytes rdata) {
    records_[{name, type}].push_back(Answer{type, ttl_s, std::move(rdata)});
    names_.insert(name);
  }
  void add_mx(const std::string& name, std::uint16_t preference, const std::string& exchange,
              std::uint32_t ttl_s = 3600) {
    add(name, rr_type_mx, ttl_s, mx_rdata(preference, exchange));
  }
  void add_a(const std::string& name, const char* ip, std::uint32_t ttl_s = 3600) {
    add(name, rr_type_a, ttl_s, a_rdata(ip));
  }
  void add_aaaa(const std::string& name, const char* ip, std::uint32_t ttl_s = 3600) {
    add(name, rr_type_aaaa, ttl_s, aaaa_rdata(ip));
  }
  void exists(const std::string& name) { names_.insert(name); }  // NODATA for every type
  void fail(const std::string& name, std::uint8_t rcode) { rcodes_[name] = rcode; }
  void fail_everything(std::uint8_t rcode) { rcode_for_all_ = rcode; }
  void silence(const std::string& name) { silent_.insert(name); }

  int queries(const std::string& name, std::uint16_t type) const {
    auto it = queries_.find({name, type});
    return it == queries_.end() ? 0 : it->second;
  }
  int total_queries() const {
    int total = 0;
    for (const auto& [key, count] : queries_) total += count;
    return total;
  }

  void on_readable() {
    for (;;) {
      std::uint8_t buffer[4096];
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof(peer);
      const ssize_t received = recvfrom(fd_, buffer, sizeof(buffer), 0,
                                        reinterpret_cast<sockaddr*>(&peer), &peer_length);
      if (received <= 0) return;
      const Bytes query(buffer, buffer + received);
      const Bytes reply = answer(query);
      if (!reply.empty()) {
        sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
      }
    }
  }

 private:
  Bytes answer(const Bytes& query) {
    AnswerTtl question;
    if (parse(query, 0, question) != MessageParse::ok || question.question_count != 1) return {};
    ++queries_[{question.question_name, question.question_type}];
    if (silent_.contains(question.question_name)) return {};
    std::size_t question_end = 0;
    read_name(query, dns_header_bytes, nullptr, question_end);
    question_end += 4;
    Bytes reply;
    std::uint8_t rcode = 0;
    std::vector<std::pair<std::string, Answer>> answers;  // owner, record
    if (rcode_for_all_ != 0) {
      rcode = rcode_for_all_;
    } else if (auto forced = rcodes_.find(question.question_name); forced != rcodes_.end()) {
      rcode = forced->second;
    } else {
      // Follow CNAMEs (RFC 1034 3.6.2) as a recursive resolver would.
      std::string owner = question.question_name;
      for (int hop = 0; hop < 8; ++hop) {
        if (auto it = records_.find({owner, question.question_type}); it != records_.end()) {
          for (const Answer& record : it->second) answers.emplace_back(owner, record);
          break;
        }
        auto cname = records_.find({owner, rr_type_cname});
        if (cname == records_.end()) break;
        answers.emplace_back(owner, cname->second.front());
        std::size_t next = 0;
        read_name(cname->second.front().rdata, 0, &owner, next);
      }
      if (answers.empty() && !names_.contains(question.question_name)) rcode = 3;  // NXDOMAIN
    }
    put_header(reply, static_cast<std::uint16_t>((query[0] << 8) | query[1]), 0x8180 | rcode, 1,
               static_cast<std::uint16_t>(answers.size()));
    reply.insert(reply.end(), query.begin() + dns_header_bytes,
                 query.begin() + static_cast<std::ptrdiff_t>(question_end));
    for (const auto& [owner, record] : answers) {
      if (owner == question.question_name) {
        put_pointer(reply, dns_header_bytes);
      } else {
        put_name(reply, owner);
      }
      put_record_fixed(reply, record.type, record.ttl_s, record.rdata.size());
      reply.insert(reply.end(), record.rdata.begin(), record.rdata.end());
    }
    return reply;
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::map<std::pair<std::string, std::uint16_t>, std::vector<Answer>> records_;
  std::set<std::string> names_;
  std::map<std::string, std::uint8_t> rcodes_;
  std::set<std::string> silent_;
  std::uint8_t rcode_for_all_ = 0;
  std::map<std::pair<std::string, std::uint16_t>, int> queries_;
};

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_.add_fd(server_.fd(), [this] { server_.on_readable(); });
    ResolverOptions options;
    options.servers.push_back(loopback(server_.port()));
    options.timeout_ms = 150;
    options.tries = 1;
    options.clock_ms = [this] { return now_ms_; };
    options.random_seed = 12345;
    std::string error;
    resolver_ = Resolver::create(options, loop_, error);
    ASSERT_NE(resolver_, nullptr) << error;
    loop_.attach(resolver_.get());
  }

  // Resolves and runs the loop until the answer arrives; checks it was not delivered inside
  // the call, and that the resolver is idle afterwards.
  MxAnswer resolve_mx(std::string_view domain, std::uint16_t port = 25) {
    std::vector<MxAnswer> answers;
    bool inside = true;
    resolver_->resolve_mx(domain, port, [&](const MxAnswer& answer) {
      EXPECT_FALSE(inside) << "callback ran inside resolve_mx";
      answers.push_back(answer);
    });
    inside = false;
    EXPECT_TRUE(answers.empty());
    EXPECT_TRUE(loop_.run_until([&] { return !answers.empty(); })) << domain;
    EXPECT_EQ(answers.size(), 1u);
    EXPECT_TRUE(resolver_->idle());
    return answers.empty() ? MxAnswer{} : answers.front();
  }

  HostAnswer resolve_host(std::string_view host, std::uint16_t port = 25) {
    std::vector<HostAnswer> answers;
    bool inside = true;
    resolver_->resolve_host(host, port, [&](const HostAnswer& answer) {
      EXPECT_FALSE(inside) << "callback ran inside resolve_host";
      answers.push_back(answer);
    });
    inside = false;
    EXPECT_TRUE(loop_.run_until([&] { return !answers.empty(); })) << host;
    EXPECT_EQ(answers.size(), 1u);
    return answers.empty() ? HostAnswer{} : answers.front();
  }

  PtrAnswer resolve_ptr(const char* ip) {
    SocketAddress address;
    EXPECT_TRUE(SocketAddress::parse(ip, 25, address)) << ip;
    std::vector<PtrAnswer> answers;
    bool inside = true;
    resolver_->resolve_ptr(address, [&](const PtrAnswer& answer) {
      EXPECT_FALSE(inside) << "callback ran inside resolve_ptr";
      answers.push_back(answer);
    });
    inside = false;
    EXPECT_TRUE(loop_.run_until([&] { return !answers.empty(); })) << ip;
    EXPECT_EQ(answers.size(), 1u);
    EXPECT_TRUE(resolver_->idle());
    return answers.empty() ? PtrAnswer{} : answers.front();
  }

  TxtAnswer resolve_txt(std::string_view name) {
    std::vector<TxtAnswer> answers;
    bool inside = true;
    resolver_->resolve_txt(name, [&](const TxtAnswer& answer) {
      EXPECT_FALSE(inside) << "callback ran inside resolve_txt";
      answers.push_back(answer);
    });
    inside = false;
    EXPECT_TRUE(loop_.run_until([&] { return !answers.empty(); })) << name;
    EXPECT_EQ(answers.size(), 1u);
    EXPECT_TRUE(resolver_->idle());
    return answers.empty() ? TxtAnswer{} : answers.front();
  }

  void add_multi() {
    server_.add_mx("multi.test", 20, "mx2.multi.test");
    server_.add_mx("multi.test", 10, "mx1.multi.test");
    server_.add_mx("multi.test", 30, "mx3.multi.test");  // NXDOMAIN
    server_.add_a("mx1.multi.test", "127.0.0.2");
    server_.add_aaaa("mx1.multi.test", "::2");
    server_.add_a("mx2.multi.test", "127.0.0.3");
    server_.add_a("mx2.multi.test", "127.0.0.4");
    server_.exists("mx2.multi.test");
  }

  std::int64_t now_ms_ = 1'000'000;  // the cache clock, moved by hand
  PollLoop loop_;
  ScriptedDnsServer server_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverTest, MxHostsInPreferenceOrderWithAddressesAndPort) {
  add_multi();
  EXPECT_EQ(describe(resolve_mx("multi.test", 2525)),
            "ok [10 mx1.multi.test 127.0.0.2:2525 [::2]:2525] "
            "[20 mx2.multi.test 127.0.0.3:2525 127.0.0.4:2525] [30 mx3.multi.test]");
  EXPECT_EQ(server_.queries("multi.test", rr_type_mx), 1);
  for (const char* host : {"mx1.multi.test", "mx2.multi.test", "mx3.multi.test"}) {
    EXPECT_EQ(server_.queries(host, rr_type_a), 1) << host;
    EXPECT_EQ(server_.queries(host, rr_type_aaaa), 1) << host;
  }
  EXPECT_EQ(resolver_->stats().queries_sent, 7u);
  EXPECT_EQ(resolver_->next_timeout_ms(), -1);
  EXPECT_EQ(loop_.watched_count(), 0u);  // c-ares closed its socket once idle
}

TEST_F(ResolverTest, ConcurrentRequestsShareOneLookup) {
  add_multi();
  std::vector<MxAnswer> answers;
  bool inside = true;
  for (int i = 0; i < 50; ++i) {
    resolver_->resolve_mx("multi.test", i % 2 == 0 ? 25 : 2525, [&](const MxAnswer& answer) {
      EXPECT_FALSE(inside);
      answers.push_back(answer);
    });
  }
  inside = false;
  EXPECT_FALSE(resolver_->idle());
  ASSERT_TRUE(loop_.run_until([&] { return answers.size() == 50; }));
  EXPECT_EQ(server_.queries("multi.test", rr_type_mx), 1);
  EXPECT_EQ(server_.queries("mx1.multi.test", rr_type_a), 1);
  EXPECT_EQ(server_.total_queries(), 7);
  EXPECT_EQ(resolver_->stats().coalesced, 49u);
  for (std::size_t i = 0; i < answers.size(); ++i) {
    ASSERT_EQ(answers[i].outcome, Outcome::ok);
    const std::string port = i % 2 == 0 ? ":25" : ":2525";
    EXPECT_EQ(answers[i].hosts[0].addresses[0].to_string(), "127.0.0.2" + port) << i;
  }
}

TEST_F(ResolverTest, MxHostsSharedByDomainsAreLookedUpOnce) {
  server_.add_mx("one.test", 10, "shared.mx.test");
  server_.add_mx("two.test", 10, "shared.mx.test");
  server_.add_a("shared.mx.test", "127.0.0.9");
  std::vector<MxAnswer> answers;
  resolver_->resolve_mx("one.test", 25, [&](const MxAnswer& answer) { answers.push_back(answer); });
  resolver_->resolve_mx("two.test", 25, [&](const MxAnswer& answer) { answers.push_back(answer); });
  ASSERT_TRUE(loop_.run_until([&] { return answers.size() == 2; }));
  EXPECT_EQ(describe(answers[0]), "ok [10 shared.mx.test 127.0.0.9:25]");
  EXPECT_EQ(describe(answers[1]), "ok [10 shared.mx.test 127.0.0.9:25]");
  EXPECT_EQ(server_.queries("shared.mx.test", rr_type_a), 1);
  // A third domain later finds the host in the cache.
  server_.add_mx("three.test", 5, "shared.mx.test");
  EXPECT_EQ(describe(resolve_mx("three.test")), "ok [5 shared.mx.test 127.0.0.9:25]");
  EXPECT_EQ(server_.queries("shared.mx.test", rr_type_a), 1);
}

TEST_F(ResolverTest, CacheHitIsDeliveredOnTheNextTickNotInsideTheCall) {
  add_multi();
  resolve_mx("multi.test");
  const int queries_before = server_.total_queries();
  bool called = false;
  resolver_->resolve_mx("multi.test", 587, [&](const MxAnswer& answer) {
    called = true;
    EXPECT_EQ(answer.hosts[0].addresses[0].to_string(), "127.0.0.2:587");
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(resolver_->next_timeout_ms(), 0);
  EXPECT_FALSE(resolver_->idle());
  resolver_->on_tick();
  EXPECT_TRUE(called);
  EXPECT_TRUE(resolver_->idle());
  EXPECT_EQ(resolver_->next_timeout_ms(), -1);
  EXPECT_EQ(server_.total_queries(), queries_before);
  EXPECT_EQ(resolver_->stats().cache_hits, 1u);
}

TEST_F(ResolverTest, NamesAreCaseInsensitiveAndMayEndWithADot) {
  add_multi();
  resolve_mx("multi.test");
  EXPECT_EQ(describe(resolve_mx("MULTI.Test.")),
            "ok [10 mx1.multi.test 127.0.0.2:25 [::2]:25] "
            "[20 mx2.multi.test 127.0.0.3:25 127.0.0.4:25] [30 mx3.multi.test]");
  EXPECT_EQ(server_.queries("multi.test", rr_type_mx), 1);
}

TEST_F(ResolverTest, CacheLastsTheShortestTtlOfMxAndAddresses) {
  server_.add_mx("ttl.test", 10, "mx.ttl.test", 600);
  server_.add_a("mx.ttl.test", "127.0.0.2", 120);
  server_.add_aaaa("mx.ttl.test", "::2", 900);
  resolve_mx("ttl.test");
  now_ms_ += 119'999;
  resolve_mx("ttl.test");
  EXPECT_EQ(server_.queries("ttl.test", rr_type_mx), 1);
  now_ms_ += 1;
  resolve_mx("ttl.test");
  EXPECT_EQ(server_.queries("ttl.test", rr_type_mx), 2);
  EXPECT_EQ(server_.queries("mx.ttl.test", rr_type_a), 2);
}

TEST_F(ResolverTest, MxTtlBoundsTheAnswerWhenAddressesLiveLonger) {
  server_.add_mx("short.test", 10, "mx.short.test", 45);
  server_.add_a("mx.short.test", "127.0.0.2", 3600);
  server_.add_aaaa("mx.short.test", "::2", 3600);
  resolve_mx("short.test");
  now_ms_ += 44'999;
  resolve_mx("short.test");
  EXPECT_EQ(server_.queries("short.test", rr_type_mx), 1);
  now_ms_ += 1;
  resolve_mx("short.test");
  EXPECT_EQ(server_.queries("short.test", rr_type_mx), 2);
  EXPECT_EQ(server_.queries("mx.short.test", rr_type_a), 1);  // host entry still fresh
}

TEST_F(ResolverTest, MissingAaaaLimitsTheCacheToTheNegativeTtl) {
  server_.add_mx("v4only.test", 10, "mx.v4only.test", 3600);
  server_.add_a("mx.v4only.test", "127.0.0.2", 3600);
  resolve_mx("v4only.test");
  now_ms_ += std::int64_t{limits::dns_negative_ttl_s} * 1000 - 1;
  resolve_mx("v4only.test");
  EXPECT_EQ(server_.queries("v4only.test", rr_type_mx), 1);
  now_ms_ += 1;
  resolve_mx("v4only.test");
  EXPECT_EQ(server_.queries("v4only.test", rr_type_mx), 2);
}

TEST_F(ResolverTest, ZeroTtlIsCachedForOneSecond) {
  server_.add_mx("zero.test", 10, "mx.zero.test", 0);
  server_.add_a("mx.zero.test", "127.0.0.2", 0);
  server_.add_aaaa("mx.zero.test", "::2", 0);
  resolve_mx("zero.test");
  now_ms_ += 999;
  resolve_mx("zero.test");
  EXPECT_EQ(server_.queries("zero.test", rr_type_mx), 1);
  now_ms_ += 1;
  resolve_mx("zero.test");
  EXPECT_EQ(server_.queries("zero.test", rr_type_mx), 2);
}

TEST_F(ResolverTest, HugeTtlIsCappedAndTopBitTtlIsZero) {
  server_.add_mx("long.test", 10, "mx.long.test", 0x7fff'ffff);
  server_.add_a("mx.long.test", "127.0.0.2", 0x7fff'ffff);
  server_.add_aaaa("mx.long.test", "::2", 0x7fff'ffff);
  resolve_mx("long.test");
  now_ms_ += std::int64_t{limits::dns_ttl_max_s} * 1000 - 1;
  resolve_mx("long.test");
  EXPECT_EQ(server_.queries("long.test", rr_type_mx), 1);
  now_ms_ += 1;
  resolve_mx("long.test");
  EXPECT_EQ(server_.queries("long.test", rr_type_mx), 2);

  server_.add_mx("wrap.test", 10, "mx.long.test", 0x8000'0000u);  // RFC 2181 8: reads as 0
  resolve_mx("wrap.test");
  now_ms_ += 1000;
  resolve_mx("wrap.test");
  EXPECT_EQ(server_.queries("wrap.test", rr_type_mx), 2);
}

TEST_F(ResolverTest, NxdomainIsPermanentAndCachedForTheNegativeTtl) {
  EXPECT_EQ(describe(resolve_mx("nope.test")), "no_domain: NXDOMAIN");
  now_ms_ += std::int64_t{limits::dns_negative_ttl_s} * 1000 - 1;
  EXPECT_EQ(describe(resolve_mx("nope.test")), "no_domain: NXDOMAIN");
  EXPECT_EQ(server_.queries("nope.test", rr_type_mx), 1);
  now_ms_ += 1;
  resolve_mx("nope.test");
  EXPECT_EQ(server_.queries("nope.test", rr_type_mx), 2);
}

TEST_F(ResolverTest, ServfailAndRefusedAreTemporaryAndNotCached) {
  server_.fail("broken.test", 2);
  server_.fail("refused.test", 5);
  EXPECT_EQ(describe(resolve_mx("broken.test")), "temporary: SERVFAIL");
  EXPECT_EQ(describe(resolve_mx("refused.test")), "temporary: REFUSED");
  const int before = server_.queries("broken.test", rr_type_mx);
  EXPECT_GE(before, 1);
  EXPECT_EQ(describe(resolve_mx("broken.test")), "temporary: SERVFAIL");
  EXPECT_GT(server_.queries("broken.test", rr_type_mx), before);
}

TEST_F(ResolverTest, NullMxIsReportedAndCached) {
  server_.add_mx("nullmx.test", 0, ".");
  EXPECT_EQ(describe(resolve_mx("nullmx.test")), "null_mx: null MX (RFC 7505)");
  EXPECT_EQ(describe(resolve_mx("nullmx.test")), "null_mx: null MX (RFC 7505)");
  EXPECT_EQ(server_.total_queries(), 1);  // no address lookup, and the second from cache
}

TEST_F(ResolverTest, NullMxBesideRealHostsIsSkipped) {
  server_.add_mx("mixed.test", 0, ".");
  server_.add_mx("mixed.test", 10, "mx.mixed.test");
  server_.add_a("mx.mixed.test", "127.0.0.7");
  EXPECT_EQ(describe(resolve_mx("mixed.test")), "ok [10 mx.mixed.test 127.0.0.7:25]");
}

TEST_F(ResolverTest, NoMxRecordMeansTheDomainItself) {  // RFC 5321 5.1 implicit MX
  server_.add_a("aonly.test", "127.0.0.5");
  server_.add_aaaa("aonly.test", "::5");
  EXPECT_EQ(describe(resolve_mx("aonly.test")), "ok implicit [0 aonly.test 127.0.0.5:25 [::5]:25]");
  EXPECT_EQ(server_.queries("aonly.test", rr_type_mx), 1);
  EXPECT_EQ(server_.queries("aonly.test", rr_type_a), 1);
}

TEST_F(ResolverTest, NoMxAndNoAddressIsNoDomain) {
  server_.exists("empty.test");
  EXPECT_EQ(describe(resolve_mx("empty.test")), "no_domain: no MX and no address");
}

TEST_F(ResolverTest, MxHostsWithoutAddressesAreNoDomain) {
  server_.add_mx("dangling.test", 10, "gone1.dangling.test");
  server_.add_mx("dangling.test", 20, "gone2.dangling.test");
  server_.exists("gone2.dangling.test");  // NODATA, not NXDOMAIN: also no address
  EXPECT_EQ(describe(resolve_mx("dangling.test")), "no_domain: no address for any MX host");
}

TEST_F(ResolverTest, MxHostTimeoutMakesTheAnswerTemporary) {
  server_.add_mx("slow.test", 10, "mx.slow.test");
  server_.silence("mx.slow.test");
  EXPECT_EQ(describe(resolve_mx("slow.test")), "temporary: timeout");
  EXPECT_EQ(describe(resolve_mx("slow.test")), "temporary: timeout");  // not cached
  EXPECT_EQ(server_.queries("slow.test", rr_type_mx), 2);
}

TEST_F(ResolverTest, OneHostTimingOutShortensTheCache) {
  server_.add_mx("half.test", 10, "mx1.half.test", 3600);
  server_.add_mx("half.test", 20, "mx2.half.test", 3600);
  server_.add_a("mx1.half.test", "127.0.0.2", 3600);
  server_.add_aaaa("mx1.half.test", "::2", 3600);
  server_.silence("mx2.half.test");
  EXPECT_EQ(describe(resolve_mx("half.test")),
            "ok [10 mx1.half.test 127.0.0.2:25 [::2]:25] [20 mx2.half.test]");
  now_ms_ += std::int64_t{limits::dns_negative_ttl_s} * 1000;
  resolve_mx("half.test");
  EXPECT_EQ(server_.queries("half.test", rr_type_mx), 2);
}

TEST_F(ResolverTest, MxThroughCnameUsesTheShortestLink) {
  server_.add("alias.test", rr_type_cname, 40, name_rdata("real.test"));
  server_.add_mx("real.test", 10, "mx.real.test", 3600);
  server_.add_a("mx.real.test", "127.0.0.8", 3600);
  server_.add_aaaa("mx.real.test", "::8", 3600);
  EXPECT_EQ(describe(resolve_mx("alias.test")), "ok [10 mx.real.test 127.0.0.8:25 [::8]:25]");
  now_ms_ += 39'999;
  resolve_mx("alias.test");
  EXPECT_EQ(server_.queries("alias.test", rr_type_mx), 1);
  now_ms_ += 1;
  resolve_mx("alias.test");
  EXPECT_EQ(server_.queries("alias.test", rr_type_mx), 2);
}

TEST_F(ResolverTest, ResolveHostGivesIpv4BeforeIpv6) {
  server_.add_aaaa("dual.test", "::9");
  server_.add_a("dual.test", "127.0.0.9");
  EXPECT_EQ(describe(resolve_host("dual.test", 465)), "ok 127.0.0.9:465 [::9]:465");
  EXPECT_EQ(describe(resolve_host("nothere.test")), "no_domain: NXDOMAIN");
  server_.exists("noaddr.test");
  EXPECT_EQ(describe(resolve_host("noaddr.test")), "no_domain: no address");
}

TEST_F(ResolverTest, ResolveHostThroughCname) {
  server_.add("www.test", rr_type_cname, 50, name_rdata("origin.test"));
  server_.add_a("origin.test", "127.0.0.10", 3600);
  EXPECT_EQ(describe(resolve_host("www.test")), "ok 127.0.0.10:25");
  now_ms_ += 49'999;
  resolve_host("www.test");
  EXPECT_EQ(server_.queries("www.test", rr_type_a), 1);
  now_ms_ += 1;
  resolve_host("www.test");
  EXPECT_EQ(server_.queries("www.test", rr_type_a), 2);
}

TEST_F(ResolverTest, IpLiteralsNeedNoQuery) {
  EXPECT_EQ(describe(resolve_host("127.0.0.5", 2525)), "ok 127.0.0.5:2525");
  EXPECT_EQ(describe(resolve_host("::1")), "ok [::1]:25");
  EXPECT_EQ(server_.total_queries(), 0);
  EXPECT_EQ(resolver_->stats().queries_sent, 0u);
}

TEST_F(ResolverTest, InvalidNamesFailWithoutAQuery) {
  const std::string long_label(64, 'a');
  const std::string label63(63, 'a');
  const std::string long_name = absl::StrCat(label63, ".", label63, ".", label63, ".", label63);
  for (const std::string& name :
       {std::string(""), std::string("."), std::string("a..test"), std::string(".test"),
        long_label + ".test", long_name, std::string("bad name.test"),
        std::string("semi;colon.test"), std::string("nul\0x.test", 10)}) {
    EXPECT_EQ(describe(resolve_mx(name)), "no_domain: invalid domain name") << name;
    EXPECT_EQ(describe(resolve_host(name)), "no_domain: invalid domain name") << name;
  }
  EXPECT_EQ(server_.total_queries(), 0);
}

TEST_F(ResolverTest, PtrOfIpv4AndIpv6) {
  server_.add("2.0.0.127.in-addr.arpa", rr_type_ptr, 3600, name_rdata("MTA1.Example.Test"));
  server_.add("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
              rr_type_ptr, 3600, name_rdata("six.example.test"));
  EXPECT_EQ(describe(resolve_ptr("127.0.0.2")), "ok mta1.example.test");  // lower-cased
  EXPECT_EQ(describe(resolve_ptr("[2001:db8::2]:25")), "ok six.example.test");
  EXPECT_EQ(server_.queries("2.0.0.127.in-addr.arpa", rr_type_ptr), 1);
  EXPECT_EQ(resolver_->stats().queries_sent, 2u);
}

TEST_F(ResolverTest, SeveralPtrRecordsEachOnceInOrder) {
  const std::string name = "3.0.0.127.in-addr.arpa";
  server_.add(name, rr_type_ptr, 60, name_rdata("first.example.test"));
  server_.add(name, rr_type_ptr, 60, name_rdata("second.example.test."));
  server_.add(name, rr_type_ptr, 60, name_rdata("FIRST.example.test"));
  EXPECT_EQ(describe(resolve_ptr("127.0.0.3")), "ok first.example.test second.example.test");
}

TEST_F(ResolverTest, ManyPtrRecordsKeepTheFirstEight) {
  const std::string name = "4.0.0.127.in-addr.arpa";
  for (int i = 1; i <= 12; ++i) {
    server_.add(name, rr_type_ptr, 60, name_rdata(absl::StrCat("n", i, ".example.test")));
  }
  const PtrAnswer answer = resolve_ptr("127.0.0.4");
  ASSERT_EQ(answer.outcome, Outcome::ok) << describe(answer);
  ASSERT_EQ(answer.names.size(), limits::ptr_names_max);
  EXPECT_EQ(answer.names.front(), "n1.example.test");
  EXPECT_EQ(answer.names.back(), "n8.example.test");
}

TEST_F(ResolverTest, PtrThroughCnameOfAClasslessDelegation) {
  // RFC 2317 4: the parent zone delegates part of a /24 by CNAMEs into a child zone.
  server_.add("5.0.0.127.in-addr.arpa", rr_type_cname, 60,
              name_rdata("5.0-25.0.0.127.in-addr.arpa"));
  server_.add("5.0-25.0.0.127.in-addr.arpa", rr_type_ptr, 60, name_rdata("mta5.example.test"));
  EXPECT_EQ(describe(resolve_ptr("127.0.0.5")), "ok mta5.example.test");
}

TEST_F(ResolverTest, PtrFailures) {
  EXPECT_EQ(describe(resolve_ptr("127.0.0.6")), "no_domain: NXDOMAIN");
  server_.add_a("7.0.0.127.in-addr.arpa", "127.0.0.7");  // the name exists, but no PTR
  EXPECT_EQ(describe(resolve_ptr("127.0.0.7")), "no_domain: no PTR record");
  server_.fail("8.0.0.127.in-addr.arpa", 2);
  EXPECT_EQ(describe(resolve_ptr("127.0.0.8")), "temporary: SERVFAIL");
  server_.silence("9.0.0.127.in-addr.arpa");
  EXPECT_EQ(describe(resolve_ptr("127.0.0.9")), "temporary: timeout");
}

TEST_F(ResolverTest, PtrNamesNoHostCouldHaveAreRefused) {
  server_.add("10.0.0.127.in-addr.arpa", rr_type_ptr, 60, name_rdata("bad name.example.test"));
  EXPECT_EQ(describe(resolve_ptr("127.0.0.10")), "temporary: malformed response");
  server_.add("11.0.0.127.in-addr.arpa", rr_type_ptr, 60, name_rdata("."));
  EXPECT_EQ(describe(resolve_ptr("127.0.0.11")), "no_domain: no PTR record");
}

TEST_F(ResolverTest, PtrOfNoAddressFailsWithoutAQuery) {
  std::vector<PtrAnswer> answers;
  resolver_->resolve_ptr(SocketAddress{},
                         [&](const PtrAnswer& answer) { answers.push_back(answer); });
  EXPECT_TRUE(answers.empty());
  EXPECT_FALSE(resolver_->idle());
  ASSERT_TRUE(loop_.run_until([&] { return !answers.empty(); }));
  EXPECT_EQ(describe(answers[0]), "no_domain: not an IPv4 or IPv6 address");
  EXPECT_EQ(server_.total_queries(), 0);
}

TEST_F(ResolverTest, PtrIsNotCached) {
  server_.add("12.0.0.127.in-addr.arpa", rr_type_ptr, 3600, name_rdata("mta.example.test"));
  resolve_ptr("127.0.0.12");
  resolve_ptr("127.0.0.12");
  EXPECT_EQ(server_.queries("12.0.0.127.in-addr.arpa", rr_type_ptr), 2);
  EXPECT_EQ(resolver_->stats().cache_hits, 0u);
}

TEST_F(ResolverTest, TxtRecordsJoinTheirStrings) {
  server_.add("s1._domainkey.example.test", rr_type_txt, 60,
              txt_rdata({"v=DKIM1; k=rsa; ", "p=AAAA", "BBBB"}));
  server_.add("s1._domainkey.example.test", rr_type_txt, 60, txt_rdata({"other"}));
  server_.add("empty.example.test", rr_type_txt, 60, txt_rdata({""}));
  EXPECT_EQ(describe(resolve_txt("S1._domainkey.example.test.")),
            "ok [v=DKIM1; k=rsa; p=AAAABBBB] [other]");
  EXPECT_EQ(describe(resolve_txt("empty.example.test")), "ok []");
  EXPECT_EQ(server_.queries("s1._domainkey.example.test", rr_type_txt), 1);
}

TEST_F(ResolverTest, TxtFailures) {
  EXPECT_EQ(describe(resolve_txt("nothing.example.test")), "no_domain: NXDOMAIN");
  server_.add_a("host.example.test", "127.0.0.2");
  EXPECT_EQ(describe(resolve_txt("host.example.test")), "no_domain: no TXT record");
  server_.fail("broken.example.test", 2);
  EXPECT_EQ(describe(resolve_txt("broken.example.test")), "temporary: SERVFAIL");
  EXPECT_EQ(describe(resolve_txt("bad name.example.test")), "no_domain: invalid domain name");
}

TEST_F(ResolverTest, CallbackMayResolveAgain) {
  add_multi();
  std::vector<std::string> events;
  resolver_->resolve_mx("multi.test", 25, [&](const MxAnswer& first) {
    events.push_back("first " + describe(first).substr(0, 2));
    resolver_->resolve_mx("multi.test", 25, [&](const MxAnswer& second) {
      events.push_back("second " + describe(second).substr(0, 2));
    });
    events.push_back("after resolve");
  });
  ASSERT_TRUE(loop_.run_until([&] { return events.size() == 3; }));
  EXPECT_EQ(events, (std::vector<std::string>{"first ok", "after resolve", "second ok"}));
}

TEST_F(ResolverTest, EqualPreferencesAreShuffledPerAnswer) {
  server_.add_mx("pair.test", 10, "a.pair.test");
  server_.add_mx("pair.test", 10, "b.pair.test");
  server_.add_a("a.pair.test", "127.0.0.11");
  server_.add_a("b.pair.test", "127.0.0.12");
  std::set<std::string> firsts;
  for (int i = 0; i < 40; ++i) firsts.insert(resolve_mx("pair.test").hosts.at(0).name);
  EXPECT_EQ(firsts, (std::set<std::string>{"a.pair.test", "b.pair.test"}));
  EXPECT_EQ(server_.queries("pair.test", rr_type_mx), 1);
}

TEST_F(ResolverTest, DestroyingWithQueriesInFlightCallsNoCallback) {
  server_.silence("hang.test");
  bool called = false;
  resolver_->resolve_mx("hang.test", 25, [&](const MxAnswer&) { called = true; });
  resolver_->resolve_host("hang.test", 25, [&](const HostAnswer&) { called = true; });
  server_.silence("1.0.0.127.in-addr.arpa");
  resolver_->resolve_ptr(loopback(25), [&](const PtrAnswer&) { called = true; });
  ASSERT_TRUE(loop_.run_until([&] { return server_.total_queries() == 4; }));
  EXPECT_EQ(loop_.watched_count(), 1u);
  loop_.attach(nullptr);
  resolver_.reset();
  EXPECT_FALSE(called);
  EXPECT_EQ(loop_.watched_count(), 0u);  // the socket was handed back before it closed
}

TEST(ResolverFailures, ClosedPortIsConnectionRefused) {
  std::uint16_t port = 0;
  close(bound_udp_socket(port));  // nothing listens there now: ICMP port unreachable
  PollLoop loop;
  ResolverOptions options;
  options.servers.push_back(loopback(port));
  options.timeout_ms = 2000;
  options.tries = 1;
  std::string error;
  auto resolver = Resolver::create(options, loop, error);
  ASSERT_NE(resolver, nullptr) << error;
  loop.attach(resolver.get());
  std::vector<MxAnswer> answers;
  resolver->resolve_mx("example.test", 25,
                       [&](const MxAnswer& answer) { answers.push_back(answer); });
  ASSERT_TRUE(loop.run_until([&] { return !answers.empty(); }, 1500));  // before any timeout
  EXPECT_EQ(describe(answers[0]), "temporary: connection refused");
}

TEST(ResolverFailures, SilentServerTimesOut) {
  std::uint16_t port = 0;
  const int silent = bound_udp_socket(port);  // bound, never read: queries vanish
  PollLoop loop;
  ResolverOptions options;
  options.servers.push_back(loopback(port));
  options.timeout_ms = 100;
  options.tries = 2;
  std::string error;
  auto resolver = Resolver::create(options, loop, error);
  ASSERT_NE(resolver, nullptr) << error;
  loop.attach(resolver.get());
  std::vector<MxAnswer> answers;
  const std::int64_t start_ms = monotonic_ms();
  resolver->resolve_mx("example.test", 25,
                       [&](const MxAnswer& answer) { answers.push_back(answer); });
  EXPECT_GT(resolver->next_timeout_ms(), 0);
  EXPECT_LE(resolver->next_timeout_ms(), 100);
  ASSERT_TRUE(loop.run_until([&] { return !answers.empty(); }, 5000));
  const std::int64_t elapsed_ms = monotonic_ms() - start_ms;
  EXPECT_EQ(describe(answers[0]), "temporary: timeout");
  // 100 ms, then 200 ms: c-ares 1.18 doubles the timeout after each round over the servers.
  EXPECT_GE(elapsed_ms, 300);
  EXPECT_LT(elapsed_ms, 2000);
  EXPECT_TRUE(resolver->idle());
  close(silent);
}

// With several servers c-ares moves on after SERVFAIL or REFUSED (and, in 1.18, reports
// "connection refused" when every server failed).
class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_.add_fd(first_.fd(), [this] { first_.on_readable(); });
    loop_.add_fd(second_.fd(), [this] { second_.on_readable(); });
    ResolverOptions options;
    options.servers = {loopback(first_.port()), loopback(second_.port())};
    options.timeout_ms = 500;
    options.tries = 1;
    std::string error;
    resolver_ = Resolver::create(options, loop_, error);
    ASSERT_NE(resolver_, nullptr) << error;
    loop_.attach(resolver_.get());
  }

  MxAnswer resolve(std::string_view domain) {
    std::vector<MxAnswer> answers;
    resolver_->resolve_mx(domain, 25, [&](const MxAnswer& answer) { answers.push_back(answer); });
    EXPECT_TRUE(loop_.run_until([&] { return !answers.empty(); }));
    return answers.empty() ? MxAnswer{} : answers.front();
  }

  PollLoop loop_;
  ScriptedDnsServer first_;
  ScriptedDnsServer second_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(FailoverTest, RefusingServerIsSkipped) {
  first_.fail_everything(5);
  second_.add_mx("multi.test", 10, "mx1.multi.test");
  second_.add_a("mx1.multi.test", "127.0.0.2");
  EXPECT_EQ(describe(resolve("multi.test")), "ok [10 mx1.multi.test 127.0.0.2:25]");
  EXPECT_EQ(first_.queries("multi.test", rr_type_mx), 1);
  EXPECT_EQ(second_.queries("multi.test", rr_type_mx), 1);
}

TEST_F(FailoverTest, EveryServerFailing) {
  first_.fail_everything(2);
  second_.fail_everything(5);
  EXPECT_EQ(describe(resolve("multi.test")),
            "temporary: no server answered (SERVFAIL, REFUSED or unreachable)");
}

TEST(ResolverServers, Ipv6Server) {
  ScriptedDnsServer server(AF_INET6);
  server.add_mx("six.test", 10, "mx.six.test");
  server.add_aaaa("mx.six.test", "::1");
  PollLoop loop;
  loop.add_fd(server.fd(), [&] { server.on_readable(); });
  ResolverOptions options;
  options.servers.emplace_back();
  ASSERT_TRUE(SocketAddress::parse(absl::StrCat("[::1]:", server.port()), 53, options.servers[0]));
  std::string error;
  auto resolver = Resolver::create(options, loop, error);
  ASSERT_NE(resolver, nullptr) << error;
  loop.attach(resolver.get());
  std::vector<MxAnswer> answers;
  resolver->resolve_mx("six.test", 25, [&](const MxAnswer& answer) { answers.push_back(answer); });
  ASSERT_TRUE(loop.run_until([&] { return !answers.empty(); }));
  EXPECT_EQ(describe(answers[0]), "ok [10 mx.six.test [::1]:25]");
}

TEST(ResolverFailures, CreateRejectsBadOptions) {
  PollLoop loop;
  std::string error;
  ResolverOptions no_tries;
  no_tries.tries = 0;
  EXPECT_EQ(Resolver::create(no_tries, loop, error), nullptr);
  EXPECT_EQ(error, "DNS timeout and tries must be at least 1");
  ResolverOptions bad_server;
  bad_server.servers.push_back(SocketAddress{});
  EXPECT_EQ(Resolver::create(bad_server, loop, error), nullptr);
  EXPECT_EQ(error, "DNS server 1 is not an IPv4 or IPv6 address");
}

// ---------------------------------------------------------------------------------------------
// Against a real dnsmasq on 127.0.0.1 (scripts/install-deps.sh installs dnsmasq-base).

constexpr const char* dnsmasq_path = "/usr/sbin/dnsmasq";

// 20 MX records with long names: the answer exceeds the 1232-octet EDNS payload, comes back
// truncated over UDP, and c-ares must ask again over TCP.
std::string many_mx_name(int preference) {
  return absl::StrCat("mx", preference, "-a-rather-long-host-name-to-fill-the-answer.many.test");
}

class Dnsmasq {
 public:
  // Starts dnsmasq on a free port and waits until it answers; retries on a port race.
  bool start(std::string& error) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::uint16_t port = 0;
      close(bound_udp_socket(port));
      if (launch(port, error) && wait_ready(error)) return true;
      stop();
    }
    return false;
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  std::uint16_t port() const { return port_; }

 private:
  bool launch(std::uint16_t port, std::string& error) {
    port_ = port;
    std::vector<std::string> args = {
        // Not --no-daemon: in that debug mode dnsmasq serves TCP in its main process, and
        // stops answering UDP while c-ares keeps a TCP connection open. --keep-in-foreground
        // forks for TCP; "--pid-file=" and "--user=" turn off the pid file and the user change.
        dnsmasq_path,
        "--keep-in-foreground",
        "--pid-file=",
        "--user=",
        "--log-facility=-",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        absl::StrCat("--port=", port),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--local=/test/",
        "--local-ttl=600",
        "--mx-host=multi.test,mx1.multi.test,10",
        "--mx-host=multi.test,mx2.multi.test,20",
        "--host-record=mx1.multi.test,127.0.0.2,::2",
        "--host-record=aonly.test,127.0.0.3",
        "--mx-host=nullmx.test,.,0",
        "--txt-record=txtonly.test,no-mail-here",
        "--mx-host=pair.test,a.pair.test,10",
        "--mx-host=pair.test,b.pair.test,10",
        "--host-record=a.pair.test,127.0.0.4",
        "--host-record=b.pair.test,127.0.0.5"};
    // Reverse DNS: --host-record makes the PTR too; --ptr-record adds one alone.
    for (const char* arg :
         {"--local=/0.0.127.in-addr.arpa/", "--host-record=mta.fcrdns.test,127.0.0.20,::20",
          "--ptr-record=21.0.0.127.in-addr.arpa,other.fcrdns.test"}) {
      args.push_back(arg);
    }
    for (int preference = 1; preference <= 20; ++preference) {
      args.push_back(
          absl::StrCat("--mx-host=many.test,", many_mx_name(preference), ",", preference));
    }
    args.push_back(absl::StrCat("--host-record=", many_mx_name(3), ",127.0.0.6"));
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) {
      error = "fork failed";
      return false;
    }
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no dnsmasq behind
      const int null_fd = open("/dev/null", O_WRONLY);
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
      execv(dnsmasq_path, argv.data());
      _exit(127);
    }
    return true;
  }

  // Polls with an MX question until dnsmasq answers, it exits, or 10 s pass.
  bool wait_ready(std::string& error) {
    std::uint16_t client_port = 0;
    const int fd = bound_udp_socket(client_port);
    const sockaddr_storage server = loopback(port_).storage;
    Bytes query;
    put_header(query, 0x4242, 0x0100, 1, 0);
    put_name(query, "multi.test");
    put_u16(query, rr_type_mx);
    put_u16(query, rr_class_in);
    const std::int64_t deadline_ms = monotonic_ms() + 10'000;
    bool ready = false;
    while (!ready && monotonic_ms() < deadline_ms) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        error = absl::StrCat("dnsmasq exited at start (port ", port_, " taken?)");
        break;
      }
      sendto(fd, query.data(), query.size(), 0, reinterpret_cast<const sockaddr*>(&server),
             sizeof(sockaddr_in));
      pollfd entry{fd, POLLIN, 0};
      if (poll(&entry, 1, 100) == 1) {
        std::uint8_t buffer[2048];
        ready = recv(fd, buffer, sizeof(buffer), 0) > 12 && buffer[0] == 0x42;
      }
    }
    close(fd);
    if (!ready && error.empty()) error = "dnsmasq did not answer within 10 s";
    return ready;
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

class DnsmasqTest : public ResolverTest {
 protected:
  static void SetUpTestSuite() {
    if (access(dnsmasq_path, X_OK) != 0) {
      setup_error_ = absl::StrCat(dnsmasq_path,
                                  " is missing: run scripts/install-deps.sh (it installs "
                                  "dnsmasq-base)");
      return;
    }
    dnsmasq_ = new Dnsmasq;
    if (!dnsmasq_->start(setup_error_)) {
      delete dnsmasq_;
      dnsmasq_ = nullptr;
    }
  }

  static void TearDownTestSuite() {
    if (dnsmasq_ != nullptr) dnsmasq_->stop();
    delete dnsmasq_;
    dnsmasq_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(dnsmasq_, nullptr) << setup_error_;
    ResolverOptions options;
    options.servers.push_back(loopback(dnsmasq_->port()));
    options.timeout_ms = 2000;
    options.tries = 2;
    options.clock_ms = [this] { return now_ms_; };
    options.random_seed = 777;
    std::string error;
    resolver_ = Resolver::create(options, loop_, error);
    ASSERT_NE(resolver_, nullptr) << error;
    loop_.attach(resolver_.get());
  }

  static Dnsmasq* dnsmasq_;
  static std::string setup_error_;
};

Dnsmasq* DnsmasqTest::dnsmasq_ = nullptr;
std::string DnsmasqTest::setup_error_;

TEST_F(DnsmasqTest, MultipleMxHostsInOrder) {
  EXPECT_EQ(describe(resolve_mx("multi.test")),
            "ok [10 mx1.multi.test 127.0.0.2:25 [::2]:25] [20 mx2.multi.test]");
  EXPECT_EQ(resolver_->stats().queries_sent, 5u);
  resolve_mx("multi.test");
  EXPECT_EQ(resolver_->stats().queries_sent, 5u);  // --local-ttl=600: served from the cache
  EXPECT_EQ(resolver_->stats().cache_hits, 1u);
}

TEST_F(DnsmasqTest, ImplicitMx) {
  EXPECT_EQ(describe(resolve_mx("aonly.test")), "ok implicit [0 aonly.test 127.0.0.3:25]");
}

TEST_F(DnsmasqTest, NullMx) {
  EXPECT_EQ(describe(resolve_mx("nullmx.test")), "null_mx: null MX (RFC 7505)");
}

TEST_F(DnsmasqTest, Nxdomain) {
  EXPECT_EQ(describe(resolve_mx("nope.test")), "no_domain: NXDOMAIN");
}

TEST_F(DnsmasqTest, NoMxAndNoAddress) {
  EXPECT_EQ(describe(resolve_mx("txtonly.test")), "no_domain: no MX and no address");
}

TEST_F(DnsmasqTest, EqualPreferencesBothComeFirst) {
  std::set<std::string> firsts;
  for (int i = 0; i < 40; ++i) {
    const MxAnswer answer = resolve_mx("pair.test", 2525);
    ASSERT_EQ(answer.hosts.size(), 2u);
    firsts.insert(describe(answer));
  }
  EXPECT_EQ(firsts, (std::set<std::string>{
                        "ok [10 a.pair.test 127.0.0.4:2525] [10 b.pair.test 127.0.0.5:2525]",
                        "ok [10 b.pair.test 127.0.0.5:2525] [10 a.pair.test 127.0.0.4:2525]"}));
}

TEST_F(DnsmasqTest, LargeAnswerOverTcpKeepsTheSixteenBest) {
  const MxAnswer answer = resolve_mx("many.test");
  ASSERT_EQ(answer.outcome, Outcome::ok) << describe(answer);
  ASSERT_EQ(answer.hosts.size(), limits::mx_hosts_max);
  for (std::size_t i = 0; i < answer.hosts.size(); ++i) {
    EXPECT_EQ(answer.hosts[i].preference, i + 1);
    EXPECT_EQ(answer.hosts[i].name, many_mx_name(static_cast<int>(i + 1)));
    EXPECT_EQ(answer.hosts[i].addresses.size(), i == 2 ? 1u : 0u);
  }
  EXPECT_TRUE(loop_.saw_writable());  // c-ares connected over TCP after the truncated answer
}

TEST_F(DnsmasqTest, ResolveHost) {
  EXPECT_EQ(describe(resolve_host("mx1.multi.test", 587)), "ok 127.0.0.2:587 [::2]:587");
  EXPECT_EQ(describe(resolve_host("mx2.multi.test")), "no_domain: NXDOMAIN");
}

TEST_F(DnsmasqTest, ResolvePtr) {
  EXPECT_EQ(describe(resolve_ptr("127.0.0.20")), "ok mta.fcrdns.test");
  EXPECT_EQ(describe(resolve_ptr("::20")), "ok mta.fcrdns.test");
  EXPECT_EQ(describe(resolve_ptr("127.0.0.21")), "ok other.fcrdns.test");
  EXPECT_EQ(describe(resolve_ptr("127.0.0.22")), "no_domain: NXDOMAIN");
}

}  // namespace
}  // namespace hayate::dns
