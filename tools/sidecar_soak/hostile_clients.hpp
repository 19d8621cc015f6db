// Clients that a careless or hostile local user points at the sidecar's
// port, each on a thread of its own and reconnecting whenever the server
// cuts it off, so they stay connected for the whole soak:
//   slow_headers     a request that never ends: one header line every 4 s
//   idle             a connection that sends nothing
//   endless_headers  8 KiB header lines, as fast as the server reads them
//   huge_body        a GET with Content-Length: 99999999999, body streamed
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace soak {

enum class Hostile { slow_headers, idle, endless_headers, huge_body };

struct HostileCount {
    Hostile kind;
    int clients;
};

class HostileClients {
public:
    HostileClients(int port, const std::vector<HostileCount>& counts);
    ~HostileClients();  // stops and joins them
    HostileClients(const HostileClients&) = delete;
    HostileClients& operator=(const HostileClients&) = delete;

    // One line per kind: clients, connections the server cut off, and bytes
    // written (into the socket: most of a huge body is never read by the
    // server, which closes the connection instead).
    std::string report() const;

private:
    struct Tally {
        std::atomic<uint64_t> connections{0};
        std::atomic<uint64_t> cut_off{0};
        std::atomic<uint64_t> bytes_sent{0};
    };
    void run(Hostile kind, Tally& tally);

    int port_;
    std::vector<HostileCount> counts_;
    std::vector<Tally> tallies_;  // one per entry of counts_
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
};

}  // namespace soak
