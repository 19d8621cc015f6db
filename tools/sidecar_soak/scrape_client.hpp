// A scraper as Prometheus is one: GET /metrics over a keep-alive connection
// to 127.0.0.1:PORT, reconnecting when the server closes it. Each scrape has
// a deadline, so a stuck server shows as an unanswered scrape, never as a
// hung soak.
#pragma once

#include <chrono>
#include <string>

namespace soak {

struct Scrape {
    int status = 0;  // 0: no answer before the deadline (error says why)
    std::string body;
    double ms = 0;  // request sent to the last body byte
    std::string error;
};

class ScrapeClient {
public:
    explicit ScrapeClient(int port) : port_(port) {}
    ~ScrapeClient();
    ScrapeClient(const ScrapeClient&) = delete;
    ScrapeClient& operator=(const ScrapeClient&) = delete;

    Scrape get(const std::string& path, std::chrono::milliseconds deadline);

private:
    bool connect_once(std::string& error);
    void close_connection();

    int port_;
    int fd_ = -1;
};

}  // namespace soak
