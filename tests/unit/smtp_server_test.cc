// Runs the engine's io_uring SMTP server (engine/smtp/server/server.h) on 127.0.0.1, on a port
// the kernel picks, in a thread, with a test policy (bounce addresses of one domain only) and a
// store that collects messages, and talks to it with real clients: Python's smtplib, and raw
// sockets that pipeline whole transactions on many connections at once. Checks the exact
// replies, the exact messages stored, the counters, and that stop() drains and returns.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/smtp/server/server.h"

namespace hayate::smtp::server {
namespace {

constexpr std::string_view kDomainSuffix = "@bounces.example.com";

class BounceAddressPolicy final : public Policy {
 public:
  Verdict check_recipient(const Envelope&, std::string_view recipient) override {
    if (recipient.ends_with(kDomainSuffix)) return Verdict::accept();
    return Verdict::reject(550, "5.1.1", "Unknown bounce address");
  }
};

struct Stored {
  std::string sender;
  std::vector<std::string> recipients;
  std::string content;
  std::string queue_id;
  std::string client_name;
};

// Both server threads write here.
class Collection {
 public:
  void add(Stored stored) {
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.push_back(std::move(stored));
  }
  std::vector<Stored> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Stored> messages_;
};

class CollectingStore final : public MessageStore {
 public:
  explicit CollectingStore(Collection& collection) : collection_(collection) {}
  Verdict store(const ReceivedMessage& message) override {
    if (message.recipients.front().starts_with("storefail@")) {
      return Verdict::reject(451, "4.3.0", "Bounce database busy");
    }
    collection_.add(Stored{std::string(message.sender),
                           {message.recipients.begin(), message.recipients.end()},
                           std::string(message.content),
                           std::string(message.queue_id),
                           std::string(message.client_name)});
    return Verdict::accept();
  }

 private:
  Collection& collection_;
};

class TestHooks final : public ServerHooks {
 public:
  explicit TestHooks(std::uint32_t threads) {
    for (std::uint32_t i = 0; i < threads; ++i) {
      policies_.push_back(std::make_unique<BounceAddressPolicy>());
      stores_.push_back(std::make_unique<CollectingStore>(collection));
    }
  }
  absl::StatusOr<ThreadHooks> start_thread(std::uint32_t index) override {
    return ThreadHooks{policies_.at(index).get(), stores_.at(index).get()};
  }
  Collection collection;

 private:
  std::vector<std::unique_ptr<BounceAddressPolicy>> policies_;
  std::vector<std::unique_ptr<CollectingStore>> stores_;
};

// A server running in its own thread for the length of a test.
class RunningServer {
 public:
  explicit RunningServer(std::uint32_t threads, std::uint32_t idle_timeout_ms = 0,
                         const std::function<void(ServerConfig&)>& adjust = {})
      : hooks_(threads) {
    ServerConfig config;
    absl::StatusOr<ListenAddress> listen = parse_listen_address("127.0.0.1:0", false);
    EXPECT_TRUE(listen.ok());
    config.listen = *listen;
    config.threads = threads;
    config.session.hostname = "bounces.example.com";
    config.session.message_bytes_max = 4096;
    config.log_name = "smtp_server_test";
    config.idle_timeout_ms = idle_timeout_ms;
    if (adjust) adjust(config);
    absl::StatusOr<std::unique_ptr<Server>> server = Server::open(config);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    thread_ = std::thread([this] { status_ = server_->run(hooks_); });
  }
  ~RunningServer() { stop(); }

  // Stops the server and waits for run() to return; returns how long that took.
  std::chrono::milliseconds stop() {
    const auto started = std::chrono::steady_clock::now();
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started);
  }

  std::uint16_t port() const { return server_->address().port(); }
  Server& server() { return *server_; }
  const absl::Status& status() const { return status_; }
  std::vector<Stored> messages() const { return hooks_.collection.messages(); }

 private:
  TestHooks hooks_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  absl::Status status_;
};

// A blocking client socket with a deadline on every read.
class Client {
 public:
  // `source`: the local address to connect from (any of 127.0.0.0/8 works on Linux).
  explicit Client(std::uint16_t port, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (source != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }

  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(std::size_t(sent));
    }
    return true;
  }

  // Reads until `received` ends with `suffix`, the peer closes, or 10 s pass.
  std::string read_until(std::string_view suffix) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!received_.ends_with(suffix) && std::chrono::steady_clock::now() < deadline) {
      pollfd poll_fd{fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, 100) <= 0) continue;
      char buffer[65536];
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) {
        closed_ = true;
        break;
      }
      received_.append(buffer, std::size_t(got));
    }
    std::string result;
    result.swap(received_);
    return result;
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string received_;
};

// Queue ids carry the thread that accepted the message; compare replies without them.
std::string mask_queue_ids(std::string text) {
  static constexpr std::string_view kQueued = "queued as ";
  for (std::size_t at = text.find(kQueued); at != std::string::npos;
       at = text.find(kQueued, at + 1)) {
    text.replace(at + kQueued.size(), 12, "QUEUEID");
  }
  return text;
}

std::vector<std::string> queue_ids_in(std::string_view text) {
  static constexpr std::string_view kQueued = "queued as ";
  std::vector<std::string> ids;
  for (std::size_t at = text.find(kQueued); at != std::string_view::npos;
       at = text.find(kQueued, at + 1)) {
    ids.emplace_back(text.substr(at + kQueued.size(), 12));
  }
  return ids;
}

TEST(SmtpServer, PythonSmtplibAgainstTheRealServer) {
  constexpr char kPython[] = "/usr/bin/python3";
  if (::access(kPython, X_OK) != 0) GTEST_SKIP() << "needs " << kPython;
  RunningServer server(2);
  ASSERT_NE(server.port(), 0);
  const std::string command = std::string("timeout 60 ") + kPython +
                              " " HAYATE_TEST_DATA_DIR "/smtp_server/smtplib_client.py " +
                              std::to_string(server.port()) + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (std::size_t got = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, got);
  EXPECT_EQ(::pclose(pipe), 0) << output;
  EXPECT_EQ(output,
            "bounce {}\n"
            "mixed {\"someone@example.org\": [550, \"5.1.1 Unknown bounce address\"]}\n"
            "refused {\"x@example.org\": [550, \"5.1.1 Unknown bounce address\"]}\n"
            "too_big 552 5.3.4 Message size exceeds fixed limit\n"
            "store 451 4.3.0 Bounce database busy\n"
            "done\n");
  EXPECT_LT(server.stop().count(), 2000);
  EXPECT_TRUE(server.status().ok()) << server.status();

  const std::vector<Stored> messages = server.messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].sender, "");
  EXPECT_EQ(messages[0].recipients, std::vector<std::string>{"b-1@bounces.example.com"});
  EXPECT_EQ(messages[0].client_name, "mx.example.net");
  EXPECT_EQ(messages[0].content,
            "From: MAILER-DAEMON@mx.example.net\n"
            "To: b-1@bounces.example.com\n"
            "Subject: Undelivered Mail Returned to Sender\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
            "\n"
            "--B\n"
            "Content-Type: message/delivery-status\n"
            "\n"
            "Reporting-MTA: dns; mx.example.net\n"
            "\n"
            "Final-Recipient: rfc822; gone@example.org\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "\n"
            "--B--\n");
  EXPECT_EQ(messages[1].sender, "sender@example.net");
  EXPECT_EQ(messages[1].recipients, std::vector<std::string>{"b-2@bounces.example.com"});
  // smtplib stuffed the leading dot (RFC 5321 4.5.2); the server took it off again.
  EXPECT_EQ(messages[1].content, "Subject: note\n\n.a line that starts with a dot\nend\n");
  EXPECT_EQ(messages[0].queue_id.substr(2), "0000000000");
  EXPECT_EQ(messages[1].queue_id.substr(2), "0000000001");

  const ServerStatsSnapshot stats = server.server().stats();
  EXPECT_EQ(stats[ServerCounter::sessions], 1u);
  EXPECT_EQ(stats[ServerCounter::messages], 2u);
  EXPECT_EQ(stats[ServerCounter::recipients], 3u);  // b-1, b-2, storefail
  EXPECT_EQ(stats[ServerCounter::rcpt_rejected], 2u);
  EXPECT_EQ(stats[ServerCounter::mail_rejected], 1u);  // SIZE
  EXPECT_EQ(stats[ServerCounter::data_rejected], 1u);  // the store's 451
}

TEST(SmtpServer, PipelinedBurstsOnManyConnections) {
  RunningServer server(2);
  constexpr int connections = 16;
  constexpr int transactions = 25;  // per connection, in one write
  std::string burst = "EHLO burst.example\r\n";
  std::string expected =
      "250-bounces.example.com\r\n250-PIPELINING\r\n250-SIZE 4096\r\n250-8BITMIME\r\n"
      "250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n";
  for (int i = 0; i < transactions; ++i) {
    burst += "MAIL FROM:<>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<b-" + std::to_string(i) +
             "@bounces.example.com>\r\nDATA\r\nSubject: " + std::to_string(i) +
             "\r\n\r\n..dot\r\n.\r\n";
    expected +=
        "250 2.1.0 Ok\r\n550 5.1.1 Unknown bounce address\r\n250 2.1.5 Ok\r\n"
        "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as QUEUEID\r\n";
  }
  burst += "QUIT\r\n";
  expected += "221 2.0.0 Bye\r\n";

  std::vector<std::string> replies(connections);
  std::vector<std::thread> clients;
  for (int c = 0; c < connections; ++c) {
    clients.emplace_back([&, c] {
      Client client(server.port());
      if (!client.connected()) return;
      std::string greeting = client.read_until("\r\n");
      if (greeting != "220 bounces.example.com ESMTP hayate\r\n") return;
      if (!client.send_all(burst)) return;
      replies[c] = client.read_until("221 2.0.0 Bye\r\n");
    });
  }
  for (std::thread& thread : clients) thread.join();
  std::set<std::string> queue_ids;
  for (int c = 0; c < connections; ++c) {
    EXPECT_EQ(mask_queue_ids(replies[c]), expected) << "connection " << c;
    for (const std::string& id : queue_ids_in(replies[c])) queue_ids.insert(id);
  }
  EXPECT_EQ(queue_ids.size(), std::size_t(connections * transactions));  // all different

  server.stop();
  ASSERT_TRUE(server.status().ok()) << server.status();
  const std::vector<Stored> messages = server.messages();
  ASSERT_EQ(messages.size(), std::size_t(connections * transactions));
  std::multiset<std::string> contents;
  for (const Stored& stored : messages) {
    EXPECT_EQ(stored.sender, "");
    ASSERT_EQ(stored.recipients.size(), 1u);
    EXPECT_EQ(stored.recipients[0], "b-" + stored.content.substr(9, stored.content.find('\n') - 9) +
                                        "@bounces.example.com");
    EXPECT_TRUE(queue_ids.contains(stored.queue_id)) << stored.queue_id;
    contents.insert(stored.content);
  }
  for (int i = 0; i < transactions; ++i) {
    EXPECT_EQ(contents.count("Subject: " + std::to_string(i) + "\n\n.dot\n"),
              std::size_t(connections));
  }
  const ServerStatsSnapshot stats = server.server().stats();
  EXPECT_EQ(stats[ServerCounter::sessions], std::uint64_t(connections));
  EXPECT_EQ(stats[ServerCounter::messages], std::uint64_t(connections * transactions));
  EXPECT_EQ(stats[ServerCounter::rcpt_rejected], std::uint64_t(connections * transactions));
}

TEST(SmtpServer, StopDrainsOpenConnectionsAndReturns) {
  RunningServer server(1);
  Client idle(server.port());
  ASSERT_TRUE(idle.connected());
  EXPECT_EQ(idle.read_until("\r\n"), "220 bounces.example.com ESMTP hayate\r\n");
  Client in_data(server.port());
  ASSERT_TRUE(in_data.connected());
  EXPECT_EQ(in_data.read_until("\r\n"), "220 bounces.example.com ESMTP hayate\r\n");
  ASSERT_TRUE(
      in_data.send_all("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\n"
                       "DATA\r\nhalf a message"));
  EXPECT_EQ(in_data.read_until("<CR><LF>.<CR><LF>\r\n"),
            "250 bounces.example.com\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_LT(server.stop().count(), 2000);
  EXPECT_TRUE(server.status().ok()) << server.status();
  // Both were closed: reads see the end of the stream, and nothing was stored.
  EXPECT_EQ(idle.read_until("never"), "");
  EXPECT_TRUE(idle.closed());
  EXPECT_EQ(in_data.read_until("never"), "");
  EXPECT_TRUE(in_data.closed());
  EXPECT_TRUE(server.messages().empty());
  EXPECT_EQ(server.server().stats()[ServerCounter::sessions], 2u);
}

TEST(SmtpServer, SilentClientsGet421AndAreClosed) {
  RunningServer server(1, /*idle_timeout_ms=*/200);
  const auto started = std::chrono::steady_clock::now();
  Client silent(server.port());
  ASSERT_TRUE(silent.connected());
  Client talking(server.port());
  ASSERT_TRUE(talking.connected());
  EXPECT_EQ(talking.read_until("\r\n"), "220 bounces.example.com ESMTP hayate\r\n");
  // One NOOP every 50 ms for 600 ms: never 200 ms of silence.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(talking.send_all("NOOP\r\n"));
    EXPECT_EQ(talking.read_until("\r\n"), "250 2.0.0 Ok\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(silent.read_until("timeout exceeded\r\n"),
            "220 bounces.example.com ESMTP hayate\r\n"
            "421 4.4.2 bounces.example.com Error: timeout exceeded\r\n");
  EXPECT_EQ(silent.read_until("never"), "");
  EXPECT_TRUE(silent.closed());
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_LT(waited, std::chrono::milliseconds(5000));
  EXPECT_FALSE(talking.closed());
  ASSERT_TRUE(talking.send_all("QUIT\r\n"));
  EXPECT_EQ(talking.read_until("\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(server.server().stats()[ServerCounter::sessions_timed_out], 1u);
}

// A client that keeps talking is still cut at the session's deadline.
TEST(SmtpServer, SessionDeadlineCutsABusyClient) {
  RunningServer server(1, 0, [](ServerConfig& config) { config.session_timeout_ms = 300; });
  const auto started = std::chrono::steady_clock::now();
  Client busy(server.port());
  ASSERT_TRUE(busy.connected());
  EXPECT_EQ(busy.read_until("\r\n"), "220 bounces.example.com ESMTP hayate\r\n");
  std::string replies;
  for (int i = 0; i < 100 && !busy.closed(); ++i) {  // 5 s at most
    if (!busy.send_all("NOOP\r\n")) break;
    replies += busy.read_until("\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  replies += busy.read_until("never");
  EXPECT_TRUE(replies.ends_with("421 4.4.2 bounces.example.com Error: timeout exceeded\r\n"))
      << replies;
  EXPECT_TRUE(busy.closed());
  const auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_LT(waited, std::chrono::milliseconds(3000));
  EXPECT_EQ(server.server().stats()[ServerCounter::sessions_too_slow], 1u);
  EXPECT_EQ(server.server().stats()[ServerCounter::sessions_timed_out], 0u);
}

// A byte every 50 ms keeps a connection from being idle, but does not extend the command's
// deadline; a client that finishes its commands in time goes on.
TEST(SmtpServer, CommandDeadlineCutsATrickle) {
  RunningServer server(1, 0, [](ServerConfig& config) {
    config.command_timeout_ms = 400;
    config.data_timeout_ms = 400;
  });
  Client trickle(server.port());
  Client prompt(server.port());
  Client slow_data(server.port());
  ASSERT_TRUE(trickle.connected() && prompt.connected() && slow_data.connected());
  EXPECT_EQ(trickle.read_until("\r\n"), "220 bounces.example.com ESMTP hayate\r\n");
  EXPECT_EQ(prompt.read_until("\r\n"), "220 bounces.example.com ESMTP hayate\r\n");
  EXPECT_EQ(slow_data.read_until("\r\n"), "220 bounces.example.com ESMTP hayate\r\n");
  ASSERT_TRUE(
      slow_data.send_all("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@bounces.example.com>\r\n"
                         "DATA\r\n"));
  EXPECT_TRUE(slow_data.read_until("<CR><LF>.<CR><LF>\r\n")
                  .ends_with("354 End data with "
                             "<CR><LF>.<CR><LF>\r\n"));
  // 1 s of this: the deadlines are 400 ms, checked every 100 ms.
  const std::string command = "NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP\r\n";
  for (std::size_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(prompt.send_all("NOOP\r\n"));
    EXPECT_EQ(prompt.read_until("\r\n"), "250 2.0.0 Ok\r\n");
    trickle.send_all(command.substr(i, 1));
    slow_data.send_all("x");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(trickle.read_until("never"),
            "421 4.4.2 bounces.example.com Error: timeout exceeded\r\n");
  EXPECT_TRUE(trickle.closed());
  EXPECT_EQ(slow_data.read_until("never"),
            "421 4.4.2 bounces.example.com Error: timeout exceeded\r\n");
  EXPECT_TRUE(slow_data.closed());
  EXPECT_FALSE(prompt.closed());
  ASSERT_TRUE(prompt.send_all("QUIT\r\n"));
  EXPECT_EQ(prompt.read_until("\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(server.server().stats()[ServerCounter::sessions_too_slow], 2u);
  EXPECT_TRUE(server.messages().empty());
}

// One client address may hold two connections, all addresses together three; the rest get
// 421 and are closed, and a closed connection makes room again.
TEST(SmtpServer, ConnectionCapsPerAddressAndInAll) {
  RunningServer server(2, 0, [](ServerConfig& config) {
    config.connections_max = 3;
    config.connections_per_ip_max = 2;
  });
  constexpr std::string_view kGreeting = "220 bounces.example.com ESMTP hayate\r\n";
  auto first = std::make_unique<Client>(server.port(), "127.0.0.1");
  Client second(server.port(), "127.0.0.1");
  EXPECT_EQ(first->read_until("\r\n"), kGreeting);
  EXPECT_EQ(second.read_until("\r\n"), kGreeting);
  Client third(server.port(), "127.0.0.1");
  EXPECT_EQ(third.read_until("never"),
            "421 4.7.0 Too many connections from your address, try again later\r\n");
  EXPECT_TRUE(third.closed());
  Client other(server.port(), "127.0.0.2");
  EXPECT_EQ(other.read_until("\r\n"), kGreeting);
  Client fourth_in_all(server.port(), "127.0.0.3");
  EXPECT_EQ(fourth_in_all.read_until("never"),
            "421 4.3.2 Too many connections, try again later\r\n");
  EXPECT_TRUE(fourth_in_all.closed());
  EXPECT_EQ(server.server().stats()[ServerCounter::connections_refused], 2u);

  first.reset();  // the server sees the close a moment later
  std::string greeting;
  for (int attempt = 0; attempt < 100 && greeting != kGreeting; ++attempt) {  // 5 s at most
    Client again(server.port(), "127.0.0.1");
    greeting = again.read_until("\r\n");
    if (greeting != kGreeting) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(greeting, kGreeting);
}

TEST(SmtpServer, APortInUseIsRefused) {
  RunningServer first(1);
  ServerConfig config;
  config.listen = *parse_listen_address("127.0.0.1:" + std::to_string(first.port()), false);
  absl::StatusOr<std::unique_ptr<Server>> second = Server::open(config);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(std::string(second.status().message()).find("another server?"), std::string::npos)
      << second.status();
}

TEST(SmtpServer, StopBeforeRunReturnsAtOnce) {
  ServerConfig config;
  config.listen = *parse_listen_address("127.0.0.1:0", false);
  absl::StatusOr<std::unique_ptr<Server>> server = Server::open(config);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->stop();
  TestHooks hooks(1);
  EXPECT_TRUE((*server)->run(hooks).ok());
}

}  // namespace
}  // namespace hayate::smtp::server
