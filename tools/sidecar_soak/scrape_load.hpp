// Scrape load for a soak: a scraper thread that GETs /metrics every
// `period` for as long as it runs, and checks that each answer is a 200
// carrying every steady target's series. Latencies are kept for the report.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace soak {

struct ScrapeTally {
    size_t scrapes = 0;
    size_t unanswered = 0;   // no 200 before the deadline
    size_t incomplete = 0;   // a 200 without a steady target's series
    std::vector<double> ms;  // answered scrapes, in order
    std::string first_failure;
};

class ScrapeLoad {
public:
    ScrapeLoad(int port, std::vector<std::string> steady_targets, std::chrono::milliseconds period);
    ~ScrapeLoad();  // stops and joins
    ScrapeLoad(const ScrapeLoad&) = delete;
    ScrapeLoad& operator=(const ScrapeLoad&) = delete;

    // The scrapes since the last call.
    ScrapeTally take();

private:
    void run();

    int port_;
    std::vector<std::string> series_;
    std::chrono::milliseconds period_;
    std::mutex mutex_;
    ScrapeTally tally_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

double percentile(std::vector<double> values, double p);

}  // namespace soak
