#include "formats/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mnv2/mnv2.h"

namespace mnv2 {

namespace {

// Larger files are refused (as the loaders did when they read files whole).
constexpr uint64_t kMaxFileBytes = uint64_t(1) << 34;

}  // namespace

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open model file '" + path + "'");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 0) {
    ::close(fd);
    throw Error("'" + path + "': cannot determine the file size");
  }
  if (uint64_t(st.st_size) > kMaxFileBytes) {
    ::close(fd);
    throw Error("'" + path + "': file larger than 16 GiB");
  }
  size_ = size_t(st.st_size);
  if (size_ > 0) {
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      map_ = static_cast<const uint8_t*>(m);
    } else {
      // Not mappable (some special file systems): read it instead.
      copy_.resize(size_);
      size_t got = 0;
      while (got < size_) {
        const ssize_t r = ::read(fd, copy_.data() + got, size_ - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          ::close(fd);
          throw Error("'" + path + "': read error");
        }
        got += size_t(r);
      }
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

void MappedFile::release(const uint8_t* p, size_t n) const {
  if (!map_ || p < map_ || p + n > map_ + size_) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (uintptr_t(p) + page - 1) / page * page;
  const uintptr_t e = (uintptr_t(p) + n) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

}  // namespace mnv2
