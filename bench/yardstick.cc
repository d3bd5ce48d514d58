// yardstick: the bare SMTP protocol as a measure for hayate. A minimal pipelining client that
// sends one static message to N recipients over C connections and does nothing else: no
// templates, no journal, no logs, no shaping, no DNS. It shares no code with hayate (libc
// and epoll only), so `bench/e2e.sh` can print hayate's throughput and CPU per message as a
// ratio to what the protocol alone costs on the same machine in the same run.
//
// Per connection: greeting, EHLO, then MAIL+RCPT+DATA in one write; after the 354 the body,
// its final dot and the next envelope in one write (RFC 2920), as hayate does.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 2525;
  int connections = 32;
  long messages = 100000;
  long body_bytes = 2000;
  int domains = 200;
};

struct Connection {
  int fd = -1;
  enum class Phase { greeting, ehlo, sending, quitting, done } phase = Phase::greeting;
  std::string in;
  std::string out;  // what the socket did not take yet
  // The replies the server owes, in order: 'm' MAIL, 'r' RCPT, 'd' DATA (354), '.' the dot.
  std::deque<char> owed;
  bool envelope_refused = false;  // MAIL or RCPT of the transaction in flight was refused
};

double now_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "yardstick: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// A text body of about `bytes` octets in 76-character lines, with its final dot.
std::string make_body(long bytes) {
  std::string body =
      "From: Bench <bench@example.com>\r\nTo: <reader@example.net>\r\nSubject: yardstick\r\n"
      "Message-ID: <yardstick@example.com>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n\r\n";
  const std::string line =
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tem\r\n";
  while (static_cast<long>(body.size()) + static_cast<long>(line.size()) <= bytes) body += line;
  body += ".\r\n";
  return body;
}

class Client {
 public:
  explicit Client(const Options& options)
      : options_(options), body_(make_body(options.body_bytes)) {}

  int run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) die("epoll_create1");
    connections_.resize(static_cast<std::size_t>(options_.connections));
    for (std::size_t i = 0; i < connections_.size(); ++i) open(i);
    const double start = now_seconds();
    std::vector<epoll_event> events(64);
    while (answered_ + failed_ < options_.messages || open_count_ > 0) {
      const int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 10000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) {
        std::fprintf(stderr, "yardstick: no progress for 10 s\n");
        return 1;
      }
      for (int i = 0; i < ready; ++i) on_event(events[i].data.u32, events[i].events);
    }
    const double seconds = now_seconds() - start;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    std::printf(
        "messages=%ld failed=%ld seconds=%.3f msgs_per_s=%.0f cpu_s=%.3f "
        "cpu_us_per_message=%.2f body_bytes=%zu\n",
        answered_, failed_, seconds, static_cast<double>(answered_) / seconds, cpu,
        cpu * 1e6 / static_cast<double>(answered_ > 0 ? answered_ : 1), body_.size());
    return failed_ == 0 ? 0 : 1;
  }

 private:
  void open(std::size_t index) {
    Connection& c = connections_[index];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) die("socket");
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(options_.port));
    if (inet_pton(AF_INET, options_.host.c_str(), &address.sin_addr) != 1) die("address");
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0 &&
        errno != EINPROGRESS) {
      die("connect");
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLET;
    event.data.u32 = static_cast<std::uint32_t>(index);
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &event) < 0) die("epoll_ctl");
    ++open_count_;
  }

  void on_event(std::uint32_t index, std::uint32_t events) {
    Connection& c = connections_[index];
    if (c.phase == Connection::Phase::done) return;
    if (events & EPOLLOUT) flush(c);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_all(c);
  }

  void read_all(Connection& c) {
    char buffer[65536];
    for (;;) {
      const ssize_t got = read(c.fd, buffer, sizeof(buffer));
      if (got > 0) {
        c.in.append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      close_connection(c);  // EOF or error
      return;
    }
    std::size_t start = 0;
    for (;;) {
      const std::size_t end = c.in.find("\r\n", start);
      if (end == std::string::npos) break;
      // The last line of a reply has a space after its code (RFC 5321 4.2.1).
      if (end - start >= 4 && c.in[start + 3] == ' ') on_reply(c, c.in[start] - '0');
      start = end + 2;
      if (c.phase == Connection::Phase::done) return;
    }
    c.in.erase(0, start);
    flush(c);
  }

  void on_reply(Connection& c, int reply_class) {
    switch (c.phase) {
      case Connection::Phase::greeting:
        c.out += "EHLO yardstick.example.com\r\n";
        c.phase = Connection::Phase::ehlo;
        return;
      case Connection::Phase::ehlo:
        c.phase = Connection::Phase::sending;
        start_transaction(c);
        return;
      case Connection::Phase::sending:
        on_sending_reply(c, reply_class);
        return;
      case Connection::Phase::quitting:
        close_connection(c);
        return;
      case Connection::Phase::done:
        return;
    }
  }

  void on_sending_reply(Connection& c, int reply_class) {
    if (c.owed.empty()) {
      ++failed_;  // a reply nobody asked for
      return;
    }
    const char owed = c.owed.front();
    c.owed.pop_front();
    switch (owed) {
      case 'm':
      case 'r':
        if (reply_class != 2) c.envelope_refused = true;
        return;
      case 'd':
        if (reply_class == 3 && !c.envelope_refused) {
          c.out += body_;
          c.owed.push_back('.');
        } else {
          ++failed_;
        }
        c.envelope_refused = false;
        start_transaction(c);  // pipelined behind the dot
        return;
      default:  // the final dot's reply
        if (reply_class == 2) {
          ++answered_;
        } else {
          ++failed_;
        }
        if (c.owed.empty()) start_transaction(c);
        return;
    }
  }

  void start_transaction(Connection& c) {
    if (sent_ >= options_.messages) {
      if (c.owed.empty()) {
        c.out += "QUIT\r\n";
        c.phase = Connection::Phase::quitting;
      }
      return;
    }
    const long n = sent_++;
    char envelope[256];
    const int size = std::snprintf(
        envelope, sizeof(envelope),
        "MAIL FROM:<bench@example.com>\r\nRCPT TO:<user%ld@domain%ld.example>\r\nDATA\r\n", n,
        n % options_.domains);
    c.out.append(envelope, static_cast<std::size_t>(size));
    c.owed.insert(c.owed.end(), {'m', 'r', 'd'});
  }

  void flush(Connection& c) {
    while (!c.out.empty()) {
      const ssize_t wrote = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (wrote < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        close_connection(c);
        return;
      }
      c.out.erase(0, static_cast<std::size_t>(wrote));
    }
  }

  void close_connection(Connection& c) {
    if (c.phase == Connection::Phase::done) return;
    c.phase = Connection::Phase::done;
    close(c.fd);
    --open_count_;
  }

  const Options& options_;
  const std::string body_;
  std::vector<Connection> connections_;
  int epoll_ = -1;
  int open_count_ = 0;
  long sent_ = 0;
  long answered_ = 0;
  long failed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const char* value = argv[i + 1];
    if (name == "--port") {
      options.port = std::atoi(value);
    } else if (name == "--host") {
      options.host = value;
    } else if (name == "--connections") {
      options.connections = std::atoi(value);
    } else if (name == "--messages") {
      options.messages = std::atol(value);
    } else if (name == "--body-bytes") {
      options.body_bytes = std::atol(value);
    } else if (name == "--domains") {
      options.domains = std::atoi(value);
    } else {
      std::fprintf(stderr,
                   "usage: yardstick --port P [--host 127.0.0.1] [--connections 32] "
                   "[--messages N] [--body-bytes 2000] [--domains 200]\n");
      return 64;
    }
  }
  return Client(options).run();
}
