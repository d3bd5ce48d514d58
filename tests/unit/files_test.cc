// Tests of engine/files.h: output files never written through a planted symbolic link (to an
// existing file or a dangling one), a FIFO or a second hard link; atomic replacement with
// fresh temporary names and the mode asked for; inputs refused unless regular, and read with
// a bound whatever they claim to hold.
#include "engine/files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/assert.h"

namespace hayate {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "hayate_files_XXXXXX").string();
    HAYATE_ASSERT(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

mode_t mode_of(const std::string& path) {
  struct stat info {};
  HAYATE_ASSERT(stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::size_t entries_in(const std::string& path) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(path)) ++count;
  return count;
}

TEST(Directory, CreatesParentsAndOpensTheDirectory) {
  TempDir temp;
  absl::StatusOr<Directory> out = Directory::create(temp.file("a/b/c/"), 0755);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->path(), temp.file("a/b/c"));
  EXPECT_TRUE(std::filesystem::is_directory(temp.file("a/b/c")));
  EXPECT_EQ(out->path_of("x.csv"), temp.file("a/b/c/x.csv"));
}

TEST(Directory, RefusesASymbolicLinkAsTheDirectory) {
  TempDir temp;
  std::filesystem::create_directory(temp.file("elsewhere"));
  std::filesystem::create_directory_symlink(temp.file("elsewhere"), temp.file("out"));
  for (const std::string& given : {temp.file("out"), temp.file("out/")}) {
    absl::StatusOr<Directory> out = Directory::create(given, 0755);
    ASSERT_FALSE(out.ok()) << given;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(out.status().message().find(temp.file("out") + " is a symbolic link"),
              std::string::npos)
        << out.status();
  }
}

TEST(Directory, RefusesARegularFileAsTheDirectory) {
  TempDir temp;
  write_file(temp.file("plain"), "x");
  absl::StatusOr<Directory> out = Directory::create(temp.file("plain"), 0755);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("is not a directory"), std::string::npos);
}

TEST(DirectoryOpenFile, CreatesWithTheModeAskedFor) {
  TempDir temp;
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  const mode_t old_mask = umask(022);
  absl::StatusOr<UniqueFd> fd =
      out->open_file("log.jsonl", O_WRONLY | O_CREAT | O_APPEND, private_file_mode);
  umask(old_mask);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(mode_of(temp.file("log.jsonl")), 0600u);
}

TEST(DirectoryOpenFile, NeverWritesThroughALinkToAnExistingFile) {
  TempDir temp;
  write_file(temp.file("precious"), "keep me\n");
  std::filesystem::create_symlink(temp.file("precious"), temp.file("rejects.csv"));
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  for (const int flags :
       {O_WRONLY | O_CREAT | O_TRUNC, O_WRONLY | O_CREAT | O_APPEND, O_RDWR | O_CREAT}) {
    absl::StatusOr<UniqueFd> fd = out->open_file("rejects.csv", flags, 0600);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(fd.status().message().find(temp.file("rejects.csv") + " is a symbolic link"),
              std::string::npos)
        << fd.status();
  }
  EXPECT_EQ(read_file(temp.file("precious")), "keep me\n");
}

TEST(DirectoryOpenFile, NeverCreatesAFileAtADanglingLinksTarget) {
  TempDir temp;
  std::filesystem::create_symlink(temp.file("planted"), temp.file("deliveries.jsonl"));
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  absl::StatusOr<UniqueFd> fd =
      out->open_file("deliveries.jsonl", O_WRONLY | O_CREAT | O_APPEND, 0600);
  ASSERT_FALSE(fd.ok());
  EXPECT_FALSE(std::filesystem::exists(temp.file("planted")));
}

TEST(DirectoryOpenFile, RefusesASecondHardLinkBeforeTruncating) {
  TempDir temp;
  write_file(temp.file("precious"), "keep me\n");
  ASSERT_EQ(link(temp.file("precious").c_str(), temp.file("rejects.csv").c_str()), 0);
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  absl::StatusOr<UniqueFd> fd = out->open_file("rejects.csv", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.status().message().find("2 hard links"), std::string::npos) << fd.status();
  EXPECT_EQ(read_file(temp.file("precious")), "keep me\n");
}

TEST(DirectoryOpenFile, RefusesAFifoWithoutWaitingForAReader) {
  TempDir temp;
  ASSERT_EQ(mkfifo(temp.file("accounting.csv").c_str(), 0600), 0);
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<UniqueFd> fd =
      out->open_file("accounting.csv", O_WRONLY | O_CREAT | O_APPEND, 0600);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.status().message().find("FIFO"), std::string::npos) << fd.status();
  absl::StatusOr<UniqueFd> read = out->open_for_reading("accounting.csv");
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("not a regular file"), std::string::npos);
}

TEST(DirectoryOpenFile, TruncatesAndAppendsItsOwnFile) {
  TempDir temp;
  write_file(temp.file("rejects.csv"), "old rows\n");
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  {
    absl::StatusOr<UniqueFd> fd = out->open_file("rejects.csv", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_TRUE(fd.ok()) << fd.status();
    ASSERT_EQ(write(fd->get(), "new\n", 4), 4);
  }
  EXPECT_EQ(read_file(temp.file("rejects.csv")), "new\n");
  absl::StatusOr<UniqueFd> read = out->open_for_reading("rejects.csv");
  ASSERT_TRUE(read.ok());
  char buffer[8] = {};
  EXPECT_EQ(::read(read->get(), buffer, sizeof buffer), 4);  // blocking reads again
}

TEST(DirectoryReplaceFile, WritesAtomicallyWithTheMode) {
  TempDir temp;
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  write_file(temp.file("summary.json"), "old");
  chmod(temp.file("summary.json").c_str(), 0644);
  ASSERT_TRUE(out->replace_file("summary.json", "{}\n", private_file_mode, true).ok());
  EXPECT_EQ(read_file(temp.file("summary.json")), "{}\n");
  EXPECT_EQ(mode_of(temp.file("summary.json")), 0600u);
  EXPECT_EQ(entries_in(temp.path()), 1u);  // no temporary file left behind
}

TEST(DirectoryReplaceFile, IgnoresAPlantedTemporaryName) {
  TempDir temp;
  write_file(temp.file("precious"), "keep me\n");
  // The name the old code used for its temporary file: a link there must not be followed.
  std::filesystem::create_symlink(temp.file("precious"), temp.file("summary.json.tmp"));
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->replace_file("summary.json", "{}\n", private_file_mode).ok());
  EXPECT_EQ(read_file(temp.file("precious")), "keep me\n");
  EXPECT_EQ(read_file(temp.file("summary.json")), "{}\n");
}

TEST(DirectoryReplaceFile, RefusesALinkAtTheName) {
  TempDir temp;
  write_file(temp.file("precious"), "keep me\n");
  std::filesystem::create_symlink(temp.file("precious"), temp.file("domains.csv"));
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  const absl::Status status = out->replace_file("domains.csv", "x\n", private_file_mode);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(temp.file("domains.csv") + " is a symbolic link"),
            std::string::npos)
      << status;
  EXPECT_EQ(read_file(temp.file("precious")), "keep me\n");
  EXPECT_TRUE(std::filesystem::is_symlink(temp.file("domains.csv")));
  EXPECT_EQ(entries_in(temp.path()), 2u);
}

TEST(DirectoryReplaceFile, AFailedFillLeavesTheOldFile) {
  TempDir temp;
  write_file(temp.file("export.csv"), "old\n");
  absl::StatusOr<Directory> out = Directory::open(temp.path());
  ASSERT_TRUE(out.ok());
  const absl::Status status = out->replace_file("export.csv", 0600, [](int fd) {
    (void)write(fd, "half", 4);
    return absl::InternalError("the list could not be read");
  });
  EXPECT_EQ(status.message(), "the list could not be read");
  EXPECT_EQ(read_file(temp.file("export.csv")), "old\n");
  EXPECT_EQ(entries_in(temp.path()), 1u);
}

TEST(DirectoryOpenParent, SplitsThePath) {
  TempDir temp;
  std::string name;
  absl::StatusOr<Directory> parent = Directory::open_parent(temp.file("metrics.prom"), name);
  ASSERT_TRUE(parent.ok());
  EXPECT_EQ(name, "metrics.prom");
  EXPECT_EQ(parent->path(), temp.path());
  absl::StatusOr<Directory> here = Directory::open_parent("bare.csv", name);
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(name, "bare.csv");
  EXPECT_EQ(here->path_of(name), "bare.csv");
  EXPECT_FALSE(Directory::open_parent(temp.path() + "/", name).ok());
}

TEST(ReadRegularFile, ReadsUpToTheLimitAndRefusesMore) {
  TempDir temp;
  write_file(temp.file("exact"), std::string(100, 'x'));
  write_file(temp.file("over"), std::string(101, 'x'));
  absl::StatusOr<std::string> exact = read_regular_file(temp.file("exact"), 100, "the template");
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->size(), 100u);
  absl::StatusOr<std::string> over = read_regular_file(temp.file("over"), 100, "the template");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().message(), temp.file("over") + ": the template is over 100 bytes");
}

TEST(ReadRegularFile, RefusesDevicesFifosAndDirectoriesAtOnce) {
  TempDir temp;
  ASSERT_EQ(mkfifo(temp.file("fifo").c_str(), 0600), 0);
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> fifo = read_regular_file(temp.file("fifo"), 1 << 20, "the template");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.status().message(),
            temp.file("fifo") + ": the template is a FIFO, not a regular file");
  absl::StatusOr<std::string> zero = read_regular_file("/dev/zero", 1 << 20, "the template");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().message(),
            "/dev/zero: the template is a character device, not a regular file");
  absl::StatusOr<std::string> directory = read_regular_file(temp.path(), 1 << 20, "the template");
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos);
  absl::StatusOr<std::string> missing =
      read_regular_file(temp.file("missing"), 1 << 20, "the template");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(ReadRegularFile, FollowsALinkToARegularInput) {
  TempDir temp;
  write_file(temp.file("body.txt"), "Hello\n");
  std::filesystem::create_symlink(temp.file("body.txt"), temp.file("linked.txt"));
  absl::StatusOr<std::string> text = read_regular_file(temp.file("linked.txt"), 100, "the text");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "Hello\n");
}

}  // namespace
}  // namespace hayate
