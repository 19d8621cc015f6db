#include "small_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtrack/unique_fd.hpp"

namespace dtrack::cli::sidecar {

Result<std::string> read_small_file(const std::string& path, size_t max_bytes, const std::string& what) {
    const std::string named = what + " " + path;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd.valid()) {
        const int err = errno;
        return errno_error("opening " + named, err,
                           err == ENOENT ? "give the path of an existing file" : "make it readable by this user");
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("fstat " + named, errno);
    if (!S_ISREG(st.st_mode))
        return Error{EINVAL, named + " is not a regular file (a directory, FIFO, socket or device)",
                     "give the path of a regular file"};
    if (size_t(st.st_size) > max_bytes)
        return Error{
            EFBIG,
            named + " has " + std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max_bytes),
            "give the right file (this one is too large to be it)"};
    std::string text(size_t(st.st_size), '\0');
    size_t got = 0;
    // It may shrink while read; it may not grow past the limit.
    while (got < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0) return errno_error("reading " + named, errno);
        if (n == 0) break;
        got += size_t(n);
    }
    text.resize(got);
    return text;
}

}  // namespace dtrack::cli::sidecar
