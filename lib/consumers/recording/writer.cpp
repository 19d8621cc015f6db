// Writing recordings: the header at once, then intervals encoded and
// compressed on a thread of their own behind a bounded queue.
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

#include "common/byte_order.hpp"
#include "consumers/recording/format.hpp"

namespace dtrack::recording {

uint64_t Interval::dirty_pages() const {
    uint64_t n = 0;
    for (const PageRun& r : dirty) n += r.count;
    return n;
}

void Interval::add_word(RegionId region, uint64_t word, uint64_t bits) {
    while (bits) {
        const int from = std::countr_zero(bits);
        const int len = std::countr_one(bits >> from);
        const uint64_t first = word * 64 + uint64_t(from);
        if (!dirty.empty() && dirty.back().region == region && dirty.back().first + dirty.back().count == first)
            dirty.back().count += uint64_t(len);
        else dirty.push_back({region, first, uint64_t(len)});
        bits = len == 64 ? 0 : bits & ~(((uint64_t{1} << len) - 1) << from);
    }
}

Header make_header(std::vector<Region> regions, std::string method, bool exact, std::string target,
                   uint64_t interval_ns, uint32_t vcpus) {
    Header h;
    h.regions = std::move(regions);
    h.method = std::move(method);
    h.exact = exact;
    h.target = std::move(target);
    h.interval_ns = interval_ns;
    h.vcpus = vcpus;
    struct utsname u {};
    if (::uname(&u) == 0) {
        h.host = u.nodename;
        h.kernel = u.release;
    }
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    h.start_unix_ns = uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
    return h;
}

std::vector<uint8_t> encode_header(const Header& header) {
    const std::vector<uint8_t> body = format::encode_header_body(header);
    std::vector<uint8_t> out(format::prelude_bytes);
    std::memcpy(out.data(), format::magic.data(), format::magic.size());
    bytes::put32(&out[8], format_version);
    bytes::put32(&out[12], static_cast<uint32_t>(body.size()));
    bytes::put32(&out[16], bytes::crc(body));
    bytes::put32(&out[20], bytes::crc({out.data(), 20}));
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

namespace {

class FileSink : public Sink {
public:
    explicit FileSink(int fd) : fd_(fd) {}
    ~FileSink() override { ::close(fd_); }
    Status write(std::span<const uint8_t> b) override {
        while (!b.empty()) {
            const ssize_t n = ::write(fd_, b.data(), b.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return errno_error("write to the recording", errno, "check the disk's free space");
            b = b.subspan(size_t(n));
        }
        return Ok{};
    }

private:
    int fd_;
};

}  // namespace

std::vector<uint8_t> encode_record(const Interval& interval, const Header& header, int level) {
    std::vector<uint8_t> out;
    format::append_record(format::encode_body(interval, header), level, out);
    return out;
}

Result<std::unique_ptr<Sink>> file_sink(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno_error("create " + path, errno, "check the path and that its directory is writable");
    return std::unique_ptr<Sink>(new FileSink(fd));
}

struct Writer::State {
    std::unique_ptr<Sink> sink;
    Header header;
    WriterOptions options;
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Interval> queue;  // dropped intervals in it hold no pages
    size_t queued_full = 0;      // intervals with pages in the queue
    bool closing = false;
    WriterStats stats;
    std::optional<Error> error;
    std::thread thread;

    void run() {
        std::vector<uint8_t> out;
        std::unique_lock lock(mutex);
        for (;;) {
            wake.wait(lock, [&] { return closing || !queue.empty(); });
            if (queue.empty()) return;
            Interval in = std::move(queue.front());
            queue.pop_front();
            if (!in.dropped) --queued_full;
            lock.unlock();
            const std::vector<uint8_t> raw = format::encode_body(in, header);
            out.clear();
            format::append_record(raw, options.compression_level, out);
            Status s = error ? Status(Ok{}) : sink->write(out);
            lock.lock();
            if (!s && !error) error = s.error();
            if (error) continue;
            ++stats.intervals;
            stats.bytes += out.size();
            stats.raw_bytes += raw.size();
        }
    }
};

Writer::Writer(std::unique_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<Writer>> Writer::create(std::unique_ptr<Sink> sink, const Header& header,
                                               WriterOptions options) {
    if (header.regions.empty() || header.regions.size() > max_regions || header.vcpus > max_vcpus)
        return Error{EINVAL,
                     "a recording needs 1 to " + std::to_string(max_regions) + " regions and at most " +
                         std::to_string(max_vcpus) + " vCPUs",
                     ""};
    const std::vector<uint8_t> head = encode_header(header);
    if (Status s = sink->write(head); !s) return s.error();
    auto state = std::make_unique<State>();
    state->sink = std::move(sink);
    state->header = header;
    state->options = options;
    state->stats.bytes = head.size();
    State* st = state.get();
    state->thread = std::thread([st] { st->run(); });
    return std::unique_ptr<Writer>(new Writer(std::move(state)));
}

Writer::~Writer() { (void)close(); }  // an error here has no one left to tell

bool Writer::push(Interval in) {
    State& s = *state_;
    bool room = true;
    {
        std::lock_guard lock(s.mutex);
        if (s.closing) return false;
        if (!in.dropped && s.queued_full >= s.options.queue_intervals) {
            // Keep its place and times, not its pages: the file says it was dropped.
            Interval stub;
            stub.index = in.index;
            stub.start_ns = in.start_ns;
            stub.end_ns = in.end_ns;
            stub.dropped = true;
            in = std::move(stub);
            room = false;
            ++s.stats.dropped;
        }
        if (!in.dropped) ++s.queued_full;
        s.queue.push_back(std::move(in));
    }
    s.wake.notify_one();
    return room;
}

Status Writer::close() {
    State& s = *state_;
    {
        std::lock_guard lock(s.mutex);
        s.closing = true;
    }
    s.wake.notify_one();
    if (s.thread.joinable()) s.thread.join();
    std::lock_guard lock(s.mutex);
    if (s.error) return *s.error;
    return Ok{};
}

WriterStats Writer::stats() const {
    std::lock_guard lock(state_->mutex);
    return state_->stats;
}

}  // namespace dtrack::recording
