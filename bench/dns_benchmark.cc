// Benchmarks for engine/dns: the raw TTL walk over a real-shaped MX answer, MX ordering, and
// the hot path of a bulk send: resolve_mx served from the cache and delivered by on_tick.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/dns/resolver.h"
#include "engine/dns/ttl.h"

namespace hayate::dns {
namespace {

using Bytes = std::vector<std::uint8_t>;

void put_u16(Bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void put_name(Bytes& out, std::string_view dotted) {
  while (!dotted.empty()) {
    const std::size_t dot = dotted.find('.');
    const std::string_view label = dotted.substr(0, dot);
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  out.push_back(0);
}

// gmail.com MX as a public resolver answers it: five records, exchanges compressed.
Bytes gmail_mx_answer() {
  Bytes out = {0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0};
  put_name(out, "gmail.com");
  put_u16(out, rr_type_mx);
  put_u16(out, rr_class_in);
  std::uint16_t first_exchange = 0;
  for (int i = 0; i < 5; ++i) {
    put_u16(out, 0xc00c);
    put_u16(out, rr_type_mx);
    put_u16(out, rr_class_in);
    put_u16(out, 0);
    put_u16(out, static_cast<std::uint16_t>(3600 - i));
    Bytes rdata;
    put_u16(rdata, static_cast<std::uint16_t>(i == 0 ? 5 : i * 10));
    if (i == 0) {
      first_exchange = static_cast<std::uint16_t>(out.size() + 2 + 2);
      for (std::string_view label : {"gmail-smtp-in", "l", "google"}) {
        rdata.push_back(static_cast<std::uint8_t>(label.size()));
        rdata.insert(rdata.end(), label.begin(), label.end());
      }
      put_u16(rdata, 0xc000 | (12 + 6));  // "com" of the question
    } else {
      rdata.insert(rdata.end(), {4, 'a', 'l', 't', static_cast<std::uint8_t>('0' + i)});
      put_u16(rdata, 0xc000 | first_exchange);
    }
    put_u16(out, static_cast<std::uint16_t>(rdata.size()));
    out.insert(out.end(), rdata.begin(), rdata.end());
  }
  return out;
}

void BM_ParseAnswerTtl(benchmark::State& state) {
  const Bytes message = gmail_mx_answer();
  for (auto _ : state) {
    AnswerTtl ttl;
    benchmark::DoNotOptimize(parse_answer_ttl(message, rr_type_mx, ttl));
    benchmark::DoNotOptimize(ttl.ttl_min_s);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
}
BENCHMARK(BM_ParseAnswerTtl);

void BM_OrderMxHosts(benchmark::State& state) {
  const std::vector<MxHost> listed = {{"alt4.gmail-smtp-in.l.google.com", 40, {}},
                                      {"alt1.gmail-smtp-in.l.google.com", 10, {}},
                                      {"gmail-smtp-in.l.google.com", 5, {}},
                                      {"alt3.gmail-smtp-in.l.google.com", 10, {}},
                                      {"alt2.gmail-smtp-in.l.google.com", 10, {}}};
  std::uint64_t seed = 1;
  for (auto _ : state) {
    std::vector<MxHost> hosts = listed;
    order_mx_hosts(hosts, ++seed);
    benchmark::DoNotOptimize(hosts.data());
  }
}
BENCHMARK(BM_OrderMxHosts);

// A UDP server on 127.0.0.1 that answers any MX question with "10 <the name itself>", and any
// A or AAAA question with 127.0.0.1 or ::1, TTL one hour.
class EchoServer {
 public:
  EchoServer() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~EchoServer() { close(fd_); }
  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }

  void answer_all() {
    std::uint8_t query[512];
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    for (;;) {
      const ssize_t size =
          recvfrom(fd_, query, sizeof(query), 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
      if (size <= 0) return;
      std::size_t question_end = 0;
      AnswerTtl parsed;
      const std::span<const std::uint8_t> message(query, static_cast<std::size_t>(size));
      if (parse_answer_ttl(message, 0, parsed) != MessageParse::ok) continue;
      read_name(message, 12, nullptr, question_end);
      question_end += 4;
      Bytes reply(query, query + question_end);
      reply[2] = 0x81;
      reply[3] = 0x80;
      reply[7] = 1;                          // ANCOUNT
      reply[9] = reply[10] = reply[11] = 0;  // no authority, no additional (drop OPT)
      put_u16(reply, 0xc00c);
      put_u16(reply, parsed.question_type);
      put_u16(reply, rr_class_in);
      put_u16(reply, 0);
      put_u16(reply, 3600);
      if (parsed.question_type == rr_type_mx) {
        put_u16(reply, 4);
        put_u16(reply, 10);
        put_u16(reply, 0xc00c);
      } else if (parsed.question_type == rr_type_a) {
        put_u16(reply, 4);
        reply.insert(reply.end(), {127, 0, 0, 1});
      } else {
        put_u16(reply, 16);
        reply.insert(reply.end(), 15, 0);
        reply.push_back(1);
      }
      sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
    }
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

class PollWatcher final : public SocketWatcher {
 public:
  void watch_socket(int fd, bool readable, bool writable) override {
    if (!readable && !writable) {
      fds_.erase(fd);
    } else {
      fds_[fd] = static_cast<short>((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
    }
  }

  // Drives the resolver and the server until `done` (bounded by 2000 rounds of 10 ms).
  template <typename Done>
  void run(Resolver& resolver, EchoServer& server, Done done) {
    for (int round = 0; round < 2000 && !done(); ++round) {
      std::vector<pollfd> entries = {{server.fd(), POLLIN, 0}};
      for (const auto& [fd, events] : fds_) entries.push_back({fd, events, 0});
      poll(entries.data(), entries.size(), 10);
      server.answer_all();
      for (std::size_t i = 1; i < entries.size(); ++i) {
        if (entries[i].revents != 0) {
          resolver.on_socket_ready(entries[i].fd, (entries[i].revents & ~POLLOUT) != 0,
                                   (entries[i].revents & POLLOUT) != 0);
        }
      }
      resolver.on_tick();
    }
  }

 private:
  std::map<int, short> fds_;
};

void BM_ResolveMxCacheHit(benchmark::State& state) {
  EchoServer server;
  PollWatcher watcher;
  ResolverOptions options;
  SocketAddress address;
  SocketAddress::parse("127.0.0.1", server.port(), address);
  options.servers.push_back(address);
  std::string error;
  auto resolver = Resolver::create(options, watcher, error);
  if (resolver == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  bool primed = false;
  resolver->resolve_mx("example.com", 25,
                       [&](const MxAnswer& answer) { primed = answer.outcome == Outcome::ok; });
  watcher.run(*resolver, server, [&] { return primed; });
  if (!primed) {
    state.SkipWithError("the loopback DNS server did not answer");
    return;
  }
  benchmark::IterationCount hosts = 0;
  for (auto _ : state) {
    resolver->resolve_mx("example.com", 25, [&](const MxAnswer& answer) {
      hosts += static_cast<benchmark::IterationCount>(answer.hosts.size());
    });
    resolver->on_tick();
  }
  benchmark::DoNotOptimize(hosts);
  if (hosts != state.iterations()) state.SkipWithError("an answer did not come from the cache");
}
BENCHMARK(BM_ResolveMxCacheHit);

}  // namespace
}  // namespace hayate::dns
