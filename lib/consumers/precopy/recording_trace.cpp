// A recording file replayed as the simulated guest's intervals.
#include <cerrno>

#include "dtrack/precopy/trace_guest.hpp"

namespace dtrack::precopy {

namespace {

class RecordingTrace : public IntervalSource {
public:
    RecordingTrace(std::string path, recording::Reader reader, std::string raise_limits)
        : path_(std::move(path)), reader_(std::move(reader)), raise_limits_(std::move(raise_limits)) {}

    const recording::Header& header() const override { return reader_.header(); }

    Result<std::optional<recording::Interval>> next() override {
        if (auto interval = reader_.next()) return std::optional<recording::Interval>(std::move(*interval));
        const recording::ReadEnd& end = reader_.end();
        switch (end.kind) {
            // A cut file (the recorder killed) is whole up to its last interval.
            case recording::ReadEnd::Kind::complete:
            case recording::ReadEnd::Kind::truncated: return std::optional<recording::Interval>{};
            case recording::ReadEnd::Kind::too_large:
                return Error{EFBIG, path_ + ": " + end.describe(),
                             raise_limits_.empty() ? "read it with larger recording::ReadLimits" : raise_limits_};
            case recording::ReadEnd::Kind::corrupt: break;
        }
        return Error{EBADMSG, path_ + ": " + end.describe(),
                     "the intervals before it are whole: `dtrack report " + path_ +
                         "` shows them; record again for a trace to simulate"};
    }

    // The same open file again: a file renamed over the path in between is not read.
    Status rewind() override {
        reader_.rewind();
        return Ok{};
    }

private:
    std::string path_;
    recording::Reader reader_;
    std::string raise_limits_;
};

}  // namespace

std::unique_ptr<IntervalSource> recording_trace(recording::Reader reader, std::string name, std::string raise_limits) {
    return std::make_unique<RecordingTrace>(std::move(name), std::move(reader), std::move(raise_limits));
}

Result<std::unique_ptr<IntervalSource>> open_recording_trace(const std::string& path, recording::ReadLimits limits,
                                                             std::string raise_limits) {
    auto reader = recording::Reader::open(path, limits);
    if (!reader) return reader.error();
    return recording_trace(std::move(*reader), path, std::move(raise_limits));
}

}  // namespace dtrack::precopy
