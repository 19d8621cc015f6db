// Dirty-page recordings: what a tracker saw, interval by interval, on disk.
//
// A recording (`.dtz`) is a header (format version, regions, page size,
// method, host, kernel, start time) and then one self-contained, checksummed,
// zlib-compressed record per interval: the pages dirtied in it (as runs or as
// a bitmap, whichever is smaller), per-vCPU counts where the method knows
// vCPUs, and the source's exactness, bound and loss. A file cut short (the
// recorder killed) reads up to its last whole interval and says where it
// ends. docs/recording-format.md gives the format byte by byte.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dtrack/clock.hpp"
#include "dtrack/error.hpp"
#include "dtrack/region.hpp"
#include "dtrack/dirty_figure.hpp"
#include "dtrack/kvm_vm_state.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::recording {

// 2: an interval may say the VM's dirty logging over it (Interval::logging).
// Version 1 files read as ever.
inline constexpr uint32_t format_version = 2;

// Limits a reader enforces (a writer never exceeds them), so bad input cannot
// make it allocate much: docs/recording-format.md.
inline constexpr uint32_t max_regions = 4096;
inline constexpr uint32_t max_vcpus = 4096;
inline constexpr uint32_t max_text_bytes = 4096;        // each string in the header
inline constexpr uint32_t max_header_bytes = 1u << 20;  // the header body
inline constexpr uint64_t max_region_pages = 1ULL << 40;
inline constexpr uint32_t max_record_bytes = 1u << 30;  // a record's compressed or raw body
inline constexpr uint32_t max_inflate_ratio = 1032;     // zlib's best: raw <= 1032 * compressed + 64

struct Header {
    uint32_t version = format_version;
    std::string method;           // "bpf", "sample", "sample-exact", "kvm-ring", "kvm-log", "uffd"
    bool exact = true;            // false: page sets are estimates (sampling)
    std::string target;           // what was recorded, for people: "pid 1234 (qemu-system-x86)", "dtvm"
    std::string host;             // uname nodename
    std::string kernel;           // uname release
    uint64_t start_unix_ns = 0;   // wall-clock time of the first interval's start
    uint64_t interval_ns = 0;     // the nominal interval (each record has its real start and end)
    uint32_t vcpus = 0;           // 0: the method has no per-vCPU view
    std::vector<Region> regions;  // RegionId = index; each with its own page size
};

// A header for what `regions` of a tracker hold; host and kernel from uname(2),
// start time now (CLOCK_REALTIME).
Header make_header(std::vector<Region> regions, std::string method, bool exact, std::string target,
                   uint64_t interval_ns, uint32_t vcpus);

// [first, first + count) pages of one region.
struct PageRun {
    RegionId region = 0;
    uint64_t first = 0;
    uint64_t count = 0;
    bool operator==(const PageRun&) const = default;
};

// The VM's dirty logging over a recorded interval, where the recorder knew it
// (a VMM's process, recorded from outside: dtrack record).
struct IntervalLogging {
    DirtyLogging at_start = DirtyLogging::off;
    DirtyLogging at_end = DirtyLogging::off;
    LoggingEvidence evidence = LoggingEvidence::kernel;  // kernel or inferred
    // The page set is the kernel's record (ring pushes, dirty bitmaps), and
    // the VM did not log into it for the whole interval: it misses writes.
    bool reads_low = false;
    bool operator==(const IntervalLogging&) const = default;
};

struct Interval {
    uint64_t index = 0;     // 0, 1, 2, ...: consecutive in a file
    uint64_t start_ns = 0;  // since Header::start_unix_ns
    uint64_t end_ns = 0;
    bool dropped = false;                    // the writer fell behind: nothing is known of it (no pages below)
    std::vector<PageRun> dirty;              // the distinct pages dirtied in the interval, sorted by region then page
    std::vector<uint64_t> vcpu_pages;        // per vCPU: pages the kernel reported (empty without a vCPU view)
    double estimated_pages = 0;              // estimate: distinct pages dirtied (the page set is then a sample)
    double bound_pages = 0;                  // estimate: half-width of the 95% interval
    uint64_t lost = 0;                       // events the source knows it lost
    uint64_t overapproximated = 0;           // pages marked dirty to cover them
    std::optional<IntervalLogging> logging;  // version 2: the VM's dirty logging, where known

    uint64_t dirty_pages() const;  // sum of the runs' counts
    // The figures are a sampling method's estimate (the runs are then the sampled pages).
    bool estimated() const { return estimated_pages > 0 || bound_pages > 0; }
    // Appends one 64-page word of a bitmap (bit i = page word * 64 + i) of
    // `region`, merging with the last run; words must come in increasing order.
    void add_word(RegionId region, uint64_t word, uint64_t bits);
    bool operator==(const Interval&) const = default;
};

// How a read ended.
struct ReadEnd {
    // too_large: the record at `offset` needs more memory than ReadLimits
    // allows; the file may be sound, and a reader given more reads on.
    enum class Kind { complete, truncated, corrupt, too_large } kind = Kind::complete;
    uint64_t offset = 0;  // byte offset of the first record not read
    std::string problem;  // truncated/corrupt/too_large: what is wrong there

    // "complete", or "truncated at byte 1234: ..." for people.
    std::string describe() const;
};

// What a reader may hold in memory for one interval. A few bytes of a file
// can declare a body of 1 GiB, or hold a bitmap that zlib shrinks a
// thousandfold and that expands to a run per page: such a record is not read
// (ReadEnd::Kind::too_large) rather than allocated.
struct ReadLimits {
    // The record's compressed and inflated body and its page runs (24 bytes
    // each; a vector may hold up to half as much again while it grows).
    uint64_t interval_bytes = 256ULL << 20;
};

// --- writing ---------------------------------------------------------------------

// Where the encoded bytes go. The file sink write(2)s each record at once, so
// a recorder killed with SIGKILL leaves every record it finished.
class Sink {
public:
    virtual ~Sink() = default;
    virtual Status write(std::span<const uint8_t> bytes) = 0;
};
// Creates (truncates) `path`.
Result<std::unique_ptr<Sink>> file_sink(const std::string& path);

struct WriterOptions {
    size_t queue_intervals = 64;  // intervals with pages waiting for the writer thread; one more is dropped
    int compression_level = 1;    // zlib: 1 is fast and already shrinks page sets ~10x
};

struct WriterStats {
    uint64_t intervals = 0;  // records written, dropped ones included
    uint64_t dropped = 0;    // intervals the queue had no room for (written as dropped records)
    uint64_t bytes = 0;      // file size so far
    uint64_t raw_bytes = 0;  // record bodies before compression
};

// Encodes intervals on a thread of its own behind a bounded queue, so the
// recording loop never waits for compression or the disk. An interval that
// finds the queue full loses its pages but not its place: it is written as a
// record saying dropped (the queue holds its index and times only), never
// silently left out.
class Writer {
public:
    // Writes the header at once (an error here is the caller's: bad path, no space).
    static Result<std::unique_ptr<Writer>> create(std::unique_ptr<Sink> sink, const Header& header,
                                                  WriterOptions options = {});
    ~Writer();  // close()s

    // Never blocks on the writer thread. False: the queue was full and the
    // interval is recorded as dropped. Indexes must be consecutive from 0.
    bool push(Interval interval);
    // Drains the queue, stops the thread; the first write error, if any (after
    // one, later records are not written).
    Status close();
    WriterStats stats() const;

private:
    struct State;
    explicit Writer(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// The bytes of a header and of one record (for the writer, the tests and fuzz seeds).
std::vector<uint8_t> encode_header(const Header& header);
std::vector<uint8_t> encode_record(const Interval& interval, const Header& header, int compression_level = 1);

// --- recording a tracker ----------------------------------------------------------

// Each record() harvests every source (a background sync), takes every dirty
// bit and hands the interval to the writer: like RateMeter, whose figures it
// keeps per interval instead of summing them.
class Recorder {
public:
    Recorder(Tracker& tracker, Writer& writer, const Clock& clock = SteadyClock::instance());

    // Harvests once and forgets what was dirty before; the first interval starts now.
    Status start();
    // Ends the current interval and queues it, with the VM's dirty logging
    // over it where the caller knows it; returns it (its pages were moved to
    // the writer: `dirty` is empty, the figures are kept) and whether the
    // writer had room.
    struct Recorded {
        Interval interval;
        uint64_t pages = 0;
        bool queued = true;
    };
    Result<Recorded> record(std::optional<IntervalLogging> logging = std::nullopt);

private:
    Tracker& tracker_;
    Writer& writer_;
    const Clock& clock_;
    Clock::time_point origin_{}, last_{};
    uint64_t index_ = 0;
    std::vector<uint64_t> vcpu_pages_;
    uint64_t lost_ = 0, overapproximated_ = 0;
};

// --- reading ---------------------------------------------------------------------

// Reads a recording record by record. A foreign file, a newer version or a
// corrupt header is an error from open(); past the header, next() returns
// intervals until the file ends, and end() says how it ended: complete, or
// truncated/corrupt at a byte offset with the problem (the intervals before
// it are good).
class Reader {
public:
    static Result<Reader> open(const std::string& path, ReadLimits limits = {});
    static Result<Reader> from_bytes(std::vector<uint8_t> bytes, ReadLimits limits = {});
    Reader(Reader&&) noexcept;
    Reader& operator=(Reader&&) noexcept;
    ~Reader();

    const Header& header() const { return header_; }
    std::optional<Interval> next();
    const ReadEnd& end() const { return end_; }  // meaningful once next() returned nullopt
    uint64_t offset() const { return offset_; }  // of the next record
    // Back to the first interval, for a second pass (the header is not read again).
    void rewind();

private:
    Reader() = default;
    Result<uint64_t> read_header();
    size_t read_at(uint64_t offset, uint8_t* out, size_t n);  // fewer at the end of the data
    bool stop(ReadEnd::Kind kind, std::string problem);

    std::FILE* file_ = nullptr;
    std::vector<uint8_t> bytes_;  // from_bytes
    ReadLimits limits_;
    uint64_t size_ = 0;
    uint64_t first_record_ = 0;
    uint64_t offset_ = 0;
    bool done_ = false;
    Header header_;
    ReadEnd end_;
    uint64_t next_index_ = 0;
    std::vector<uint8_t> packed_, raw_;
};

// Reads a whole file: header, intervals, and how it ended.
struct Recording {
    Header header;
    std::vector<Interval> intervals;
    ReadEnd end;
};
Result<Recording> read_recording(const std::string& path, ReadLimits limits = {});

}  // namespace dtrack::recording

DTRACK_PUBLIC_END
