// Micro benchmarks of DKIM signing on a realistic 3 KB multipart/alternative message (Japanese
// subject, quoted-printable text and html parts), each iteration a different recipient and so a
// different body: no body-hash reuse. bench/dkim_vs_openssl.sh compares the signing rates with
// `openssl speed`, which times the bare private-key operation.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "campaign/message/dkim.h"
#include "engine/strings.h"

namespace {

using hayate::cat;
using hayate::campaign::DkimAlgorithm;
using hayate::campaign::DkimConfig;
using hayate::campaign::DkimContext;
using hayate::campaign::DkimSigner;

constexpr int messages_count = 64;  // distinct messages, signed in turn
constexpr std::int64_t unix_time_s = 1795446601;

std::string message_for(int recipient) {
  const std::string boundary = cat("=_hayate_", 1000003 * recipient + 17);
  std::string message =
      cat("From: =?UTF-8?B?5bGx55Sw5ZWG5bqX?= <news@shop.example.com>\r\n"
          "To: customer",
          recipient,
          "@example.net\r\n"
          "Subject: =?UTF-8?B?44CQ5bGx55Sw5ZWG5bqX44CR5pil44Gu44K744O844Or6ZaL5YKs5Lit77yB?=\r\n"
          " =?UTF-8?B?5pyA5aSnNDAl44Kq44OV?=\r\n"
          "Date: Mon, 23 Nov 2026 15:10:01 +0000\r\n"
          "Message-ID: <spring-2026.",
          recipient,
          ".9c1e4a77@shop.example.com>\r\n"
          "MIME-Version: 1.0\r\n"
          "List-Unsubscribe: <https://shop.example.com/u/",
          recipient,
          "?c=spring-2026&t=8f14e45fceea167a>,\r\n <mailto:unsubscribe@shop.example.com?subject=",
          recipient,
          ">\r\n"
          "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
          "Feedback-ID: spring-2026:newsletter:hayate:shop\r\n"
          "Content-Type: multipart/alternative; boundary=\"",
          boundary, "\"\r\n\r\n--", boundary,
          "\r\nContent-Type: text/plain; charset=UTF-8\r\n"
          "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
          "Dear customer ",
          recipient, ",\r\n\r\n");
  for (int i = 0; i < 12; ++i) {
    hayate::append(message,
                   "=E6=98=A5=E3=81=AE=E3=82=BB=E3=83=BC=E3=83=AB in Osaka: up to 40% off with=\r\n"
                   " your code SPRING",
                   recipient % 97, ".\r\n");
  }
  hayate::append(message, "\r\n--", boundary,
                 "\r\nContent-Type: text/html; charset=UTF-8\r\n"
                 "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                 "<!DOCTYPE html>\r\n<html><body style=3D\"font-family: sans-serif\">\r\n"
                 "<p>Dear customer ",
                 recipient, ",</p>\r\n");
  for (int i = 0; i < 9; ++i) {
    hayate::append(
        message,
        "  <p>=E6=98=A5=E3=81=AE=E3=82=BB=E3=83=BC=E3=83=AB Osaka <a href=3D\"https:/=\r\n"
        "/shop.example.com/s?c=3D",
        recipient, "\">shop now</a></p>\r\n");
  }
  hayate::append(message, "</body></html>\r\n\r\n--", boundary, "--\r\n");
  return message;
}

// Keys generated once per run into a temporary directory: the benchmark needs no data files.
struct Fixture {
  std::vector<std::string> messages;
  std::shared_ptr<const DkimSigner> rsa2048;
  std::shared_ptr<const DkimSigner> ed25519;

  Fixture() {
    for (int i = 0; i < messages_count; ++i) messages.push_back(message_for(i));
    std::string directory = (std::filesystem::temp_directory_path() / "dkim_bench.XXXXXX").string();
    if (mkdtemp(directory.data()) == nullptr) std::abort();
    rsa2048 = load(DkimAlgorithm::rsa_sha256, 2048, directory + "/rsa2048.pem");
    ed25519 = load(DkimAlgorithm::ed25519_sha256, 0, directory + "/ed25519.pem");
    std::filesystem::remove_all(directory);
  }

  static std::shared_ptr<const DkimSigner> load(DkimAlgorithm algorithm, int bits,
                                                const std::string& path) {
    std::string record;
    if (!hayate::campaign::generate_dkim_key(algorithm, bits, "shop.example.com", "s1", path,
                                             record)
             .ok()) {
      std::abort();
    }
    DkimConfig config;
    config.domain = "shop.example.com";
    config.selector = "s1";
    config.key_path = path;
    config.source = "benchmark";
    auto signer = DkimSigner::load(config);
    if (!signer.ok()) std::abort();
    return *signer;
  }
};

const Fixture& fixture() {
  static const Fixture instance;
  return instance;
}

void sign_loop(benchmark::State& state, const std::shared_ptr<const DkimSigner>& signer,
               bool same_body) {
  const Fixture& data = fixture();
  DkimContext context;
  std::string out;
  std::size_t index = 0;
  std::size_t bytes = 0;
  const std::vector<std::shared_ptr<const DkimSigner>> signers = {signer};
  for (auto _ : state) {
    const std::string& message = data.messages[same_body ? 0 : index++ % messages_count];
    out.clear();
    context.sign(signers, message, unix_time_s, out);
    benchmark::DoNotOptimize(out.data());
    bytes += message.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["message_bytes"] = static_cast<double>(data.messages[0].size());
  state.counters["body_hash_reuses"] = static_cast<double>(context.body_hash_reuses());
}

void BM_DkimSignRsa2048(benchmark::State& state) { sign_loop(state, fixture().rsa2048, false); }
BENCHMARK(BM_DkimSignRsa2048);

void BM_DkimSignEd25519(benchmark::State& state) { sign_loop(state, fixture().ed25519, false); }
BENCHMARK(BM_DkimSignEd25519);

// Every recipient gets the same body: the body hash is computed once.
void BM_DkimSignEd25519SameBody(benchmark::State& state) {
  sign_loop(state, fixture().ed25519, true);
}
BENCHMARK(BM_DkimSignEd25519SameBody);

// What signing costs besides the private-key operation: canonicalizing a 3 KB body.
void BM_DkimRelaxedBody(benchmark::State& state) {
  const Fixture& data = fixture();
  std::string out;
  std::size_t index = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string& message = data.messages[index++ % messages_count];
    const std::string_view body = std::string_view(message).substr(message.find("\r\n\r\n") + 4);
    out.clear();
    hayate::campaign::append_relaxed_body(body, out);
    benchmark::DoNotOptimize(out.data());
    bytes += body.size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_DkimRelaxedBody);

}  // namespace
