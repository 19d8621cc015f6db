#include "scrape_load.hpp"

#include <algorithm>
#include <utility>

#include "scrape_client.hpp"

namespace soak {

ScrapeLoad::ScrapeLoad(int port, std::vector<std::string> steady_targets, std::chrono::milliseconds period)
    : port_(port), period_(period) {
    for (const std::string& t : steady_targets) series_.push_back("dtrack_harvests_total{target=\"" + t + "\"");
    thread_ = std::thread([this] { run(); });
}

ScrapeLoad::~ScrapeLoad() {
    stop_ = true;
    thread_.join();
}

void ScrapeLoad::run() {
    ScrapeClient client(port_);
    auto next = std::chrono::steady_clock::now();
    while (!stop_) {
        const Scrape s = client.get("/metrics", std::chrono::seconds(5));
        std::string failure;
        if (s.status != 200) {
            failure = s.status ? "status " + std::to_string(s.status) : s.error;
        } else {
            for (const std::string& series : series_)
                if (s.body.find(series) == std::string::npos) failure = "no " + series + "} in the answer";
        }
        {
            std::lock_guard lock(mutex_);
            ++tally_.scrapes;
            if (s.status != 200) ++tally_.unanswered;
            else if (!failure.empty()) ++tally_.incomplete;
            else tally_.ms.push_back(s.ms);
            if (!failure.empty() && tally_.first_failure.empty()) tally_.first_failure = failure;
        }
        next += period_;
        std::this_thread::sleep_until(next);
        next = std::max(next, std::chrono::steady_clock::now() - period_);  // no burst after a slow scrape
    }
}

ScrapeTally ScrapeLoad::take() {
    std::lock_guard lock(mutex_);
    return std::exchange(tally_, {});
}

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, size_t(p * double(values.size())))];
}

}  // namespace soak
