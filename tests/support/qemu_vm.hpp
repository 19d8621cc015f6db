// One QEMU for a test, under KVM or TCG, driven over QMP: a real third-party
// VMM in either of its dirty-tracking modes (the dirty bitmap, QEMU's default,
// or the dirty ring), idle, migrating to a second QemuVm over loopback, or
// running its own calc-dirty-rate.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace dtrack_test {

// What tests/qemu/native_guest.S writes: the first 8 bytes of each of these
// pages, new contents every pass, and a '.' on its debugcon every
// kNativeGuestPassesPerMark passes.
inline constexpr uint64_t kNativeGuestFirstByte = 16ULL << 20;
inline constexpr uint64_t kNativeGuestDirtyPages = 16384;
inline constexpr uint64_t kNativeGuestPassesPerMark = 256;

enum class QemuAccel { kvm, tcg };
// native: tests/qemu/native_guest.S (long mode, ring 3: native even on PVM);
// emulated: tests/qemu/dirtying_guest.S (32-bit protected mode: KVM's
// instruction emulator on a PVM host, 8192 pages).
enum class QemuImage { native, emulated };

struct QemuVmOptions {
    QemuAccel accel = QemuAccel::kvm;
    uint32_t dirty_ring_size = 0;  // entries per vCPU; 0 = the dirty bitmap
    QemuImage image = QemuImage::native;
    uint64_t ram_mib = 256;
    // A migration destination: -incoming tcp:127.0.0.1:PORT on a free port;
    // the guest runs only once a migration has arrived.
    bool incoming = false;
};

// query-migrate's figures the tests look at, and the whole reply.
struct MigrationInfo {
    std::string status;             // "active", "completed", "cancelled", ...
    uint64_t dirty_pages_rate = 0;  // ram.dirty-pages-rate: pages/s, 0 until reported
    uint64_t dirty_sync_count = 0;  // ram.dirty-sync-count: dirty-log syncs so far
    uint64_t transferred = 0;       // ram.transferred, bytes
    nlohmann::json reply;           // the "return" object
};

class QemuVm {
public:
    // "" where /dev/kvm opens and speaks KVM API 12, else why not.
    static std::string kvm_unavailable_reason();
    // "" where qemu-system-x86_64 and both guest images are there, else why not.
    static std::string qemu_unavailable_reason();

    // Starts QEMU and waits (deadline 60 s) for its QMP socket and, unless
    // it is a migration destination, for the guest's first debugcon byte
    // (it reached its write loop). Throws std::runtime_error with QEMU's
    // output when QEMU exits or a deadline passes.
    explicit QemuVm(const QemuVmOptions& options = {});
    ~QemuVm();  // SIGKILL and reap
    QemuVm(const QemuVm&) = delete;
    QemuVm& operator=(const QemuVm&) = delete;

    pid_t pid() const { return pid_; }
    int incoming_port() const { return incoming_port_; }  // 0 unless a destination
    const QemuVmOptions& options() const { return options_; }

    // The guest's '.' marks so far (native image): one per
    // kNativeGuestPassesPerMark passes.
    uint64_t marks() const;

    // A QMP command: the whole reply ({"return": ...} or {"error": ...});
    // asynchronous events in between are skipped. Throws when QEMU does not
    // answer within the deadline.
    nlohmann::json execute(const std::string& command, const nlohmann::json& arguments = nlohmann::json::object(),
                           std::chrono::milliseconds deadline = std::chrono::seconds(10));
    // The same, but its "return" object; an "error" reply throws.
    nlohmann::json call(const std::string& command, const nlohmann::json& arguments = nlohmann::json::object());

    std::string run_state();  // query-status: "running", "paused", "inmigrate", ...
    // Caps the migration's bandwidth (migrate-set-parameters max-bandwidth),
    // then starts one to `destination` over loopback.
    void migrate_to(const QemuVm& destination, uint64_t max_bandwidth_bytes_per_s);
    MigrationInfo query_migrate();
    void migrate_cancel();
    // calc-dirty-rate over `seconds` with mode "page-sampling", "dirty-ring"
    // or "dirty-bitmap"; query_dirty_rate() is query-dirty-rate's "return".
    void calc_dirty_rate(int seconds, const std::string& mode);
    nlohmann::json query_dirty_rate();

    // QEMU's stdout and stderr so far, for failure messages.
    std::string log() const;

private:
    void start();
    void stop();
    void connect_qmp(std::chrono::steady_clock::time_point deadline);
    void wait_for_guest(std::chrono::steady_clock::time_point deadline);
    void throw_if_exited(const std::string& while_doing);
    nlohmann::json read_message(std::chrono::steady_clock::time_point deadline);
    void send(const nlohmann::json& message);

    QemuVmOptions options_;
    std::string dir_;  // QMP socket, debugcon file, log, the image's copy
    pid_t pid_ = -1;
    int incoming_port_ = 0;
    int qmp_ = -1;
    std::string pending_;  // bytes read from QMP past the last whole line
};

}  // namespace dtrack_test

// Skips the test, with the reason, where QEMU or KVM is missing.
#define DTRACK_REQUIRE_QEMU_KVM()                                                                \
    do {                                                                                         \
        const std::string qemu_why = dtrack_test::QemuVm::qemu_unavailable_reason();             \
        if (!qemu_why.empty()) GTEST_SKIP() << qemu_why;                                         \
        const std::string kvm_why = dtrack_test::QemuVm::kvm_unavailable_reason();               \
        if (!kvm_why.empty()) GTEST_SKIP() << "QEMU with -accel kvm needs KVM, and " << kvm_why; \
    } while (0)
