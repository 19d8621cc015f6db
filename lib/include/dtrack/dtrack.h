/*
 * dtrack.h: libdtrack's C ABI, for VMMs written in C, Rust or Go.
 *
 * The C++ API (tracker.hpp and friends) is templates and classes; this is
 * the same engine behind opaque handles and plain functions, callable from
 * C99 and from any language with a C FFI. Link with
 * `pkg-config --cflags --libs dtrack`.
 *
 * CONVENTIONS
 *
 *   Errors: a function that can fail returns an int (or int64_t): 0 or a
 *   count on success, a negative errno on failure (-EINVAL bad argument,
 *   -ENOTSUP missing kernel feature, -ENOMEM out of memory, ...). Then
 *   dt_last_error() says what went wrong and how to fix it, in one line
 *   that begins with the function's name ("dt_add_memslot: ..."), and
 *   dt_last_error_fix() gives the fix alone. Both are per thread: they
 *   describe the last dt_ call of the calling thread, and every dt_ call
 *   that can fail clears them on entry. A call refused for a bad argument
 *   changes nothing. No C++ exception ever leaves this ABI (out of memory
 *   is -ENOMEM).
 *
 *   Handles: dt_tracker, dt_rounds, dt_watcher, dt_throttle are created by
 *   dt_*_create and freed by dt_*_destroy (NULL is accepted and ignored).
 *   A handle keeps what it was made from alive, so they may be destroyed
 *   in any order. dt_ring and dt_log are owned by their tracker: valid
 *   until dt_tracker_destroy, never freed by the caller.
 *
 *   Options and results: structs whose first field is `size_t sz` are
 *   versioned by their size, as libbpf's opts structs: set sz to
 *   sizeof(struct ...) as your header declares it (fields may be added at
 *   the end in later versions; an older library refuses, with -EINVAL, a
 *   larger struct that sets a field it does not know, and a newer library
 *   fills only the fields your sz holds). A zero field means "the default";
 *   a NULL options pointer means all defaults.
 *
 *   Callbacks run on dtrack's threads where said (the reaper, the watcher)
 *   and must not unwind through dtrack (no longjmp, no C++ exceptions).
 *
 * VERSION: dt_version() is the library's version, DT_VERSION_* the
 * header's; both come from the VERSION file (the library refuses to build
 * when they disagree). The soname changes with the major version.
 */
#ifndef DTRACK_DTRACK_H
#define DTRACK_DTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DT_VERSION_MAJOR 0
#define DT_VERSION_MINOR 12
#define DT_VERSION_PATCH 0

/* Only the dt_ functions are exported from libdtrack.so. */
#if defined(__GNUC__)
#define DT_API __attribute__((visibility("default")))
#else
#define DT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version and errors ------------------------------------------------- */

/* "0.9.0": the version the library was built as. */
DT_API const char *dt_version(void);

/* The calling thread's last error, "what; fix: how", or "" after a call that
 * succeeded. Valid until this thread's next dt_ call. Never NULL. */
DT_API const char *dt_last_error(void);
/* The fix part alone ("" when there is none). */
DT_API const char *dt_last_error_fix(void);

/* ---- the tracker: regions, sync, take, counters ------------------------- */

/* Thread safety: add regions and sources from one thread before the first
 * sync. After that dt_sync may be called from any thread (calls are
 * serialized, so a watcher and a migration thread may both sync);
 * dt_counters from any thread; one thread at a time takes a given region. */
typedef struct dt_tracker dt_tracker;

DT_API int dt_tracker_create(dt_tracker **out);
DT_API void dt_tracker_destroy(dt_tracker *tracker);

/* Regions return their id (0, 1, ... in the order added) or a negative
 * errno. `name` is for messages and may be NULL. */

/* A KVM memslot: `slot` as KVM numbers it (address space << 16 | id),
 * guest-physical base, 4 KiB pages (the memslot's whole page count). Each
 * slot once (-EINVAL for a second), ending within the 64-bit space. */
DT_API int dt_add_memslot(dt_tracker *tracker, const char *name, uint32_t slot, uint64_t guest_phys_base,
                          uint64_t pages);
/* A range of this process's memory (for the uffd source): page-aligned,
 * `pages` pages of the system page size. */
DT_API int dt_add_host_range(dt_tracker *tracker, const char *name, void *addr, uint64_t pages);

enum dt_sync_kind {
    DT_SYNC_ROUND = 0,      /* the sync at a transfer round's boundary */
    DT_SYNC_BACKGROUND = 1, /* a harvest between rounds (a rate measurement, the watcher) */
    /* Not kinds: they make the enum as wide as int in C and C++ alike, so any
     * int a caller passes is a value of the type (refused with -EINVAL),
     * never undefined behaviour in the library. */
    DT_SYNC_KIND_INT_MIN_ = -2147483647 - 1,
    DT_SYNC_KIND_INT_MAX_ = 2147483647,
};

struct dt_sync_report {
    size_t sz;
    uint64_t pages;          /* page reports harvested (a page re-dirtied counts again) */
    uint64_t new_dirty;      /* of those, pages that were clean in the bitmaps */
    uint64_t lost;           /* events a source knows it lost (then it over-approximated) */
    uint32_t failed_sources; /* sources whose harvest failed; the others were harvested */
    uint64_t duration_ns;
};

/* Harvests every source into the bitmaps. 0, or the first failing source's
 * negative errno (dt_last_error names it); `report` (may be NULL) is filled
 * either way. */
DT_API int dt_sync(dt_tracker *tracker, enum dt_sync_kind kind, struct dt_sync_report *report);

/* Takes and clears the dirty pages [first, first + count) of `region`,
 * after the sources re-protected them (so a write from now on is seen by a
 * later sync). count is cut at the region's end. Returns the number of
 * pages taken, or a negative errno (then nothing was taken). */

/* Calls fn(user, page) for every dirty page, in increasing order; `page`
 * is the page's index in the region. fn must not call dt_take_* on the
 * same region. */
typedef void (*dt_page_fn)(void *user, uint64_t page);
DT_API int64_t dt_take_pages(dt_tracker *tracker, uint32_t region, uint64_t first, uint64_t count, dt_page_fn fn,
                             void *user);

/* ORs the dirty pages into `bitmap`, KVM's dirty-log layout: page i of the
 * region is bit (i % 64) of word i / 64, words in host (little-endian on
 * x86-64 and arm64) order. `words` is the bitmap's length; it must cover
 * page first + count - 1 (at most the region's end), else -EINVAL and
 * nothing is taken. Bits already set stay set, so a caller can gather
 * several takes into one bitmap. */
DT_API int64_t dt_take_bitmap(dt_tracker *tracker, uint32_t region, uint64_t first, uint64_t count, uint64_t *bitmap,
                              size_t words);

/* Monotonic counters (every field only grows), summed over the sources. */
struct dt_counters {
    size_t sz;
    uint64_t rounds;      /* transfer passes (dt_rounds_begin_round) */
    uint64_t syncs_round; /* harvests, by kind: never mixed with rounds */
    uint64_t syncs_background;
    uint64_t harvests; /* source harvests, all sources */
    uint64_t pages;    /* page reports */
    uint64_t new_dirty;
    uint64_t lost;
    uint64_t overapproximated; /* pages marked dirty without evidence, to cover a loss */
    uint64_t failures;         /* source harvests that failed */
    uint32_t regions;
    uint32_t sources;
};
DT_API int dt_get_counters(const dt_tracker *tracker, struct dt_counters *out);

/* ---- sources ------------------------------------------------------------ */

/* The KVM dirty ring, per vCPU. Order, as KVM wants it: regions for every
 * memslot, then dt_ring_enable (before the first KVM_CREATE_VCPU), then
 * dt_ring_add_vcpu for each vCPU fd, then optionally the reaper. Each vCPU
 * thread calls dt_ring_on_full when KVM_RUN exits with
 * KVM_EXIT_DIRTY_RING_FULL, before running again. Thread safety: on_full
 * from any vCPU thread, concurrently with syncs and the reaper. */
typedef struct dt_ring dt_ring;

struct dt_ring_opts {
    size_t sz;
    uint32_t entries; /* per vCPU, a power of two >= 256 (default 4096) */
    bool no_acq_rel;  /* don't use KVM_CAP_DIRTY_LOG_RING_ACQ_REL even where there is one */
    /* Write-protects all guest memory again after a ring jammed (turn
     * KVM_MEM_LOG_DIRTY_PAGES off and on for each memslot); returns 0 or a
     * negative errno. Without it a jam makes every later sync mark every
     * slot dirty (nothing is lost; precision is). Runs on the syncing thread. */
    int (*rearm)(void *user);
    void *rearm_user;
};

DT_API int dt_ring_enable(dt_tracker *tracker, int vm_fd, const struct dt_ring_opts *opts, dt_ring **out);
/* `index` is the vCPU's KVM vcpu id. */
DT_API int dt_ring_add_vcpu(dt_ring *ring, int vcpu_fd, uint32_t index);
/* For KVM_EXIT_DIRTY_RING_FULL: empties the rings so KVM_RUN can go on. */
DT_API int dt_ring_on_full(dt_ring *ring, uint32_t vcpu_index);
/* The same, emptying only this vCPU's ring, as QEMU does while its dirty
 * limit is in service: a vCPU that sleeps at its own full exits must reach
 * them, and emptying its ring at another vCPU's exit would spare it. */
DT_API int dt_ring_on_full_own(dt_ring *ring, uint32_t vcpu_index);
/* A thread that harvests while the vCPUs run (more often as rings fill). */
DT_API int dt_ring_start_reaper(dt_ring *ring);
DT_API void dt_ring_stop_reaper(dt_ring *ring);

struct dt_ring_counters {
    size_t sz;
    uint64_t full_exits; /* dt_ring_on_full calls */
    uint64_t resets;     /* KVM_RESET_DIRTY_RINGS calls */
    uint64_t jams;       /* overflows detected and recovered (over-approximated) */
    uint64_t rearms;
    uint64_t reaper_passes;
    uint32_t entries; /* the ring size in use */
    bool acq_rel;
    bool blind; /* a jam without rearm: every sync marks everything */
};
DT_API int dt_ring_get_counters(const dt_ring *ring, struct dt_ring_counters *out);

/* The KVM dirty log, per memslot. dt_log_enable comes after the regions and
 * before any memslot has KVM_MEM_LOG_DIRTY_PAGES (it turns on
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 where the kernel has it); each memslot
 * must then be created with KVM_MEM_LOG_DIRTY_PAGES. dt_sync harvests it
 * and dt_take_* re-protects what it takes (KVM_CLEAR_DIRTY_LOG), so it has
 * no calls of its own to make from other threads. */
typedef struct dt_log dt_log;

struct dt_log_opts {
    size_t sz;
    bool no_manual_protect; /* plain KVM_GET_DIRTY_LOG even where MANUAL_PROTECT2 exists */
};
DT_API int dt_log_enable(dt_tracker *tracker, int vm_fd, const struct dt_log_opts *opts, dt_log **out);
/* Whether KVM_CLEAR_DIRTY_LOG (manual protection) is in use. */
DT_API bool dt_log_manual_protect(const dt_log *log);

/* userfaultfd WP_ASYNC + PAGEMAP_SCAN on a host range of this process
 * (Linux 6.7+, no KVM needed): exact, every write after this call. */
DT_API int dt_uffd_track(dt_tracker *tracker, uint32_t region);

/* ---- rounds: one migration's state -------------------------------------- */

/* Two clocks: a round is a transfer pass, a sync a harvest. Every sync
 * through dt_rounds_sync closes a period (bytes dirtied against bytes
 * transferred) that the throttle sees. Thread safety: any thread. */
typedef struct dt_rounds dt_rounds;

DT_API int dt_rounds_create(dt_tracker *tracker, dt_rounds **out);
DT_API void dt_rounds_destroy(dt_rounds *rounds);
DT_API int dt_rounds_start_migration(dt_rounds *rounds);
DT_API int dt_rounds_finish_migration(dt_rounds *rounds);
DT_API int dt_rounds_begin_round(dt_rounds *rounds);
DT_API int dt_rounds_end_round(dt_rounds *rounds);
DT_API int dt_rounds_add_transferred(dt_rounds *rounds, uint64_t bytes);
DT_API int dt_rounds_sync(dt_rounds *rounds, enum dt_sync_kind kind, struct dt_sync_report *report);
/* The current round: 1 for the first pass, 0 before it. */
DT_API uint64_t dt_rounds_round(const dt_rounds *rounds);
/* Syncs of `kind` in this migration. */
DT_API uint64_t dt_rounds_syncs(const dt_rounds *rounds, enum dt_sync_kind kind);

/* ---- the watcher: background sync --------------------------------------- */

/* A thread that polls every `poll_ms` and, when a round has run longer than
 * `threshold_ms` without a sync, syncs in the background (skips round 1,
 * idles without a migration). Thread safety: start/stop/destroy from one
 * thread; the counters from any. */
typedef struct dt_watcher dt_watcher;

struct dt_watcher_opts {
    size_t sz;
    uint32_t poll_ms;      /* default 1000 */
    uint32_t threshold_ms; /* default 5000 */
    /* Whether a sync still serves anyone (e.g. the throttle is below its
     * maximum); false stops the watcher. NULL: always. Watcher thread. */
    bool (*keep_going)(void *user);
    void *user;
    /* Since issue 24 (a smaller sz leaves it 0): */
    uint32_t trigger; /* enum dt_sync_trigger */
};

enum dt_sync_trigger {
    /* dtrack's: a sync when the round counter has not moved for threshold_ms since the last sync */
    DT_SYNC_ROUND_TIME = 0,
    /* QEMU 9.2's: a timer every threshold_ms from the migration's start,
     * syncing at a tick when no sync happened since the previous one */
    DT_SYNC_PERIODIC = 1,
};
DT_API int dt_watcher_create(dt_rounds *rounds, const struct dt_watcher_opts *opts, dt_watcher **out);
DT_API void dt_watcher_destroy(dt_watcher *watcher);
/* Resets its state for a new migration and starts the thread. */
DT_API int dt_watcher_start(dt_watcher *watcher);
/* Stops the thread at once, even mid-wait. */
DT_API void dt_watcher_stop(dt_watcher *watcher);

struct dt_watcher_counters {
    size_t sz;
    uint64_t background_syncs;
    uint64_t failed_syncs; /* that met errors (also reported by the next round sync) */
};
DT_API int dt_watcher_get_counters(const dt_watcher *watcher, struct dt_watcher_counters *out);

/* ---- the throttle: auto-converge ---------------------------------------- */

/* QEMU's auto-converge rules: after each sync through dt_rounds, a period
 * in which the guest dirtied more than trigger_pct of what was transferred
 * is high; at the second high period the throttle steps (initial_pct, then
 * +increment_pct up to max_pct) and calls apply(user, pct) on the syncing
 * thread; the VMM then makes each vCPU sleep pct% of its time. After
 * dt_throttle_destroy returns, apply is not called again (so apply must
 * not destroy its own throttle). Thread safety: pct and at_max from any
 * thread; create, reset and destroy from one. */
typedef struct dt_throttle dt_throttle;
typedef void (*dt_throttle_fn)(void *user, int pct);

struct dt_throttle_opts {
    size_t sz;
    int trigger_pct;        /* default 50 */
    int initial_pct;        /* default 20 */
    int increment_pct;      /* default 10 */
    int max_pct;            /* default 99 */
    bool tail_slow;         /* step only as far as the measured dirty ratio asks */
    uint32_t min_period_ms; /* default 1000: shorter periods add up first */
};
DT_API int dt_throttle_create(dt_rounds *rounds, const struct dt_throttle_opts *opts, dt_throttle_fn apply, void *user,
                              dt_throttle **out);
DT_API void dt_throttle_destroy(dt_throttle *throttle);
DT_API int dt_throttle_pct(const dt_throttle *throttle);
DT_API bool dt_throttle_at_max(const dt_throttle *throttle);
/* Back to 0% (applied) and forget the periods: for the next migration. */
DT_API int dt_throttle_reset(dt_throttle *throttle);

/* ---- precopy live migration over a connected socket --------------------- */

/* Where one region's pages live in this process. Both ends list the same
 * regions (ids, guest-physical bases, page counts, page size), or the
 * receiver refuses the stream before writing anything. A plain struct
 * (no sz): arrays of it are passed with their length. */
struct dt_memory {
    uint32_t region; /* the tracker's region id (the sender takes its dirty bits) */
    void *host;      /* first byte of the region here */
    uint64_t pages;
    uint64_t page_size; /* 0 = 4096 */
    uint64_t guest_phys_base;
};

/* TLS 1.3 with QEMU's credential files; set at most one of x509_dir and
 * psk_file. x509_dir: ca-cert.pem, and server-cert.pem + server-key.pem on
 * the receiver, client-cert.pem + client-key.pem on the sender. psk_file:
 * IDENTITY:HEXKEY lines (keys.psk). Without either the stream is plain. */
struct dt_tls {
    const char *x509_dir;
    const char *psk_file;
    const char *psk_identity; /* sender, PSK: whose key to use (default "qemu") */
    const char *peer_name;    /* sender, x509: the name the receiver's certificate must hold */
};

struct dt_progress {
    uint64_t round;
    uint64_t remaining_pages;
    double bandwidth; /* wire bytes/s over the last round */
    uint64_t estimated_downtime_ns;
};

struct dt_send_opts {
    size_t sz;
    /* Required: stop the vCPUs (return once none runs) and restart them.
     * On success they stay paused: the guest lives on the receiver now. */
    void (*pause_vcpus)(void *user);
    void (*resume_vcpus)(void *user);
    void (*progress)(void *user, const struct dt_progress *progress); /* after each round sync; may be NULL */
    void *user;
    uint64_t bandwidth;         /* bytes/s cap; 0 = none */
    uint32_t downtime_limit_ms; /* default 300 */
    uint64_t max_time_ms;       /* 0 = no bound on the whole run */
    uint32_t io_timeout_ms;     /* default 30000 */
    uint32_t batch_pages;       /* default 64 */
    bool compress;              /* zlib on page batches (compression, below, says more) */
    struct dt_tls tls;
    /* Since issue 24 (a smaller sz leaves them 0): */
    uint32_t compression;        /* enum dt_compression; DT_COMPRESSION_UNSET: as `compress` says */
    int32_t compression_level;   /* 0 = the method's default; zlib 1..9, zstd 1..19 */
    uint64_t xbzrle_cache_bytes; /* cache of sent pages, so a page sent again may go as a delta; 0 = off */
    /* Hot-page deferral: a page dirty at each of the last defer_hot_rounds
     * round syncs is kept dirty for the final round, within what the
     * downtime limit carries. 0 = off; 1..8. */
    uint32_t defer_hot_rounds;
};

enum dt_compression {
    DT_COMPRESSION_UNSET = 0, /* zlib if dt_send_opts.compress, else none */
    DT_COMPRESSION_NONE = 1,
    DT_COMPRESSION_ZLIB = 2,
    DT_COMPRESSION_ZSTD = 3,
};

enum dt_send_status {
    DT_SEND_COMPLETED = 0,       /* the receiver acknowledged a matching copy */
    DT_SEND_TIMED_OUT = 1,       /* max_time or io_timeout passed */
    DT_SEND_RECEIVER_FAILED = 2, /* the receiver closed, reset or answered nonsense */
    DT_SEND_REJECTED = 3,        /* the receiver refused the stream (dt_last_error says why) */
    DT_SEND_ERROR = 4,           /* a local failure */
};

struct dt_send_result {
    size_t sz;
    int status; /* enum dt_send_status */
    uint64_t rounds;
    uint64_t pages_sent; /* zero pages included */
    uint64_t zero_pages;
    uint64_t bytes_on_wire;
    uint64_t total_time_ns;
    uint64_t downtime_ns;
    uint64_t round_syncs;
    uint64_t background_syncs;
    /* Since issue 24 (a smaller sz does not receive them): */
    uint64_t delta_pages;     /* sent as a delta against the cached copy */
    uint64_t cache_hits;      /* from round 2: pages the sent-page cache held */
    uint64_t cache_misses;    /* from round 2: pages it did not (sent whole) */
    uint64_t cache_overflows; /* pages evicted to make room */
    uint64_t deferred_pages;  /* page-rounds kept back for the final round (defer_hot_rounds) */
};

/* Migrates the regions in `memory` over a connected stream socket (the
 * caller keeps and closes it), driving `rounds` (so a throttle and a
 * watcher on it take part). Blocks until done, on the calling thread (the
 * callbacks run there too); one send per dt_rounds at a time. 0 when completed; else -ETIMEDOUT,
 * -ECONNRESET (receiver failed), -ECONNREFUSED (rejected) or another
 * negative errno, the guest running again. `result` may be NULL. */
DT_API int dt_precopy_send(dt_rounds *rounds, const struct dt_memory *memory, size_t regions, int socket_fd,
                           const struct dt_send_opts *opts, struct dt_send_result *result);

struct dt_receive_opts {
    size_t sz;
    uint32_t io_timeout_ms;   /* longest silence accepted (default 20000) */
    uint64_t max_time_ms;     /* 0 = none */
    uint64_t min_bytes_per_s; /* slowest sender accepted per rate window (default 64 KiB/s) */
    bool no_rate_floor;       /* accept any pace */
    uint32_t rate_window_ms;  /* default 10000 */
    struct dt_tls tls;
};

struct dt_receive_result {
    size_t sz;
    uint64_t rounds;
    uint64_t pages; /* zero pages included */
    uint64_t zero_pages;
    uint64_t records;
    uint64_t bytes;
    uint64_t digest;      /* memory digest of all regions (precopy/wire_format.hpp, END), equal to the sender's */
    uint64_t delta_pages; /* since issue 24: pages that came as deltas */
};

/* Receives one migration into `memory` over a connected socket (kept by the
 * caller). Blocks until done; needs no handle, so any thread may call it. 0 when the copy is complete and its digest
 * matched; else a negative errno and dt_last_error says what and where (the memory then holds a partial copy: do not
 * run it). Refused at once, nothing read: bad `memory` (-EINVAL, naming the entry and field), a socket_fd that is not
 * open (-EBADF), not a socket (-ENOTSOCK), not a stream (-EPROTOTYPE) or not connected (-ENOTCONN); dt_precopy_send
 * likewise. */
DT_API int dt_precopy_receive(const struct dt_memory *memory, size_t regions, int socket_fd,
                              const struct dt_receive_opts *opts, struct dt_receive_result *result);

/* ---- measuring a running VM or process from outside (dtrack rate) --------- */

/* What `dtrack rate` does, for a VM manager to embed: how fast process `pid`
 * (a VMM, or any process) dirties memory, interval by interval, with the
 * figure that is true for its VM's state (dtrack/target_meter.hpp):
 *   DT_FIGURE_VMM_DIRTY  pages the kernel marked dirty for the VMM since it
 *                        last write-protected them (its dirty-ring pushes or
 *                        dirty-bitmap bits): exact, but only while the VM logs
 *                        dirty pages (a VMM logs while it migrates or measures);
 *   DT_FIGURE_WRITTEN    distinct pages written in the interval, found by
 *                        hashing pages: an estimate with its bound, or exact.
 * DT_MEASURE_AUTO watches both on a KVM VMM and gives, each interval, the
 * first while the VM logged for the whole interval, else the second.
 * Needs root (or CAP_BPF+CAP_PERFMON and ptrace access to the process).
 * One thread at a time per handle. */
typedef struct dt_target dt_target;

enum dt_measure_method {
    DT_MEASURE_AUTO = 0,   /* the state-aware choice, every interval */
    DT_MEASURE_KERNEL = 1, /* the kernel's record alone (reads low while the VM does not log) */
    DT_MEASURE_SAMPLE = 2, /* page hashing alone */
    DT_MEASURE_METHOD_INT_MIN_ = -2147483647 - 1,
    DT_MEASURE_METHOD_INT_MAX_ = 2147483647,
};

enum dt_figure { DT_FIGURE_VMM_DIRTY = 0, DT_FIGURE_WRITTEN = 1 };
enum dt_dirty_logging { DT_LOGGING_OFF = 0, DT_LOGGING_RING = 1, DT_LOGGING_BITMAP = 2 };
enum dt_logging_evidence {
    DT_EVIDENCE_NONE = 0,     /* the process runs no KVM VM */
    DT_EVIDENCE_KERNEL = 1,   /* read from the kernel (struct kvm) */
    DT_EVIDENCE_INFERRED = 2, /* not readable here: inferred from the kernel's record */
};

struct dt_target_opts {
    size_t sz;
    int method;            /* enum dt_measure_method; 0: DT_MEASURE_AUTO */
    bool exact_sampling;   /* hashing: every present page instead of a sample */
    double max_error;      /* hashing: half-width of the 95% interval, share of the present pages; 0: 2% */
    uint64_t sample_pages; /* hashing: this many pages a sample instead; 0: sized by max_error */
};

/* Attaches to process `pid` (as this PID namespace numbers it: run in the
 * host's). -ESRCH for no such process, -EINVAL for a thread id or bad
 * options, -EPERM without the privileges; nothing stays attached then. */
DT_API int dt_target_open(int pid, const struct dt_target_opts *opts, dt_target **out);
DT_API void dt_target_destroy(dt_target *target);
/* The first interval starts now. */
DT_API int dt_target_start(dt_target *target);

struct dt_target_interval {
    size_t sz;
    double seconds;     /* the interval's real length */
    int figure;         /* enum dt_figure: what `pages` counts */
    bool trusted;       /* false: it reads low (DT_MEASURE_KERNEL on a VM that does not log) */
    bool exact;         /* `pages` is exact, not an estimate */
    double pages;       /* distinct pages of `figure` dirtied in the interval */
    double bound_pages; /* half-width of the 95% interval of `pages`, when an estimate; else 0 */
    uint64_t lost;      /* events a source knows it lost in the interval */
    int logging;        /* enum dt_dirty_logging: the VM's state at the interval's end */
    int evidence;       /* enum dt_logging_evidence */
    uint32_t memslots_logging;
    bool has_vmm_dirty;     /* the kernel's record is watched: */
    double vmm_dirty_pages; /* its figure this interval */
    bool has_written;       /* pages are hashed: */
    double written_pages;   /* its figure this interval */
    double written_bound_pages;
    char why[256]; /* why this figure, one line (cut at 255 bytes) */
};

/* Ends the current interval and fills `out`. */
DT_API int dt_target_sample(dt_target *target, struct dt_target_interval *out);

#ifdef __cplusplus
}
#endif

#endif /* DTRACK_DTRACK_H */
