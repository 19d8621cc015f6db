// A recording file replayed as the simulated guest's intervals.
#include "dtrack/precopy/trace_guest.hpp"

namespace dtrack::precopy {

namespace {

class RecordingTrace : public IntervalSource {
public:
    RecordingTrace(std::string path, recording::Reader reader) : path_(std::move(path)), reader_(std::move(reader)) {}

    const recording::Header& header() const override { return reader_.header(); }

    Result<std::optional<recording::Interval>> next() override {
        if (auto interval = reader_.next()) return std::optional<recording::Interval>(std::move(*interval));
        const recording::ReadEnd& end = reader_.end();
        // A cut file (the recorder killed) is whole up to its last interval.
        if (end.kind != recording::ReadEnd::Kind::corrupt) return std::optional<recording::Interval>{};
        return Error{EBADMSG, path_ + ": " + end.describe(),
                     "the intervals before it are whole: `dtrack report " + path_ +
                         "` shows them; record again for a trace to simulate"};
    }

    Status rewind() override {
        auto reopened = recording::Reader::open(path_);
        if (!reopened) return reopened.error();
        reader_ = std::move(*reopened);
        return Ok{};
    }

private:
    std::string path_;
    recording::Reader reader_;
};

}  // namespace

Result<std::unique_ptr<IntervalSource>> open_recording_trace(const std::string& path) {
    auto reader = recording::Reader::open(path);
    if (!reader) return reader.error();
    return std::unique_ptr<IntervalSource>(std::make_unique<RecordingTrace>(path, std::move(*reader)));
}

}  // namespace dtrack::precopy
