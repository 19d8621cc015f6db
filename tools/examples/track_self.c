/*
 * track_self: libdtrack's C ABI in one small program, for VMM authors.
 *
 *   1. userfaultfd: tracks the dirty pages of its own memory (no KVM needed).
 *   2. KVM: creates a tiny VM (one memslot, one vCPU running a few bytes of
 *      real-mode code that write to known guest pages and halt), tracked
 *      with the dirty ring, then again with the dirty log. Skipped, with the
 *      reason, where /dev/kvm does not work.
 *
 * Each part writes a known set of pages and checks that dtrack reports
 * exactly those. Exit status: 0 every part matched (or KVM was skipped),
 * 1 a part reported other pages, 2 something failed to set up.
 *
 * Build against an installed libdtrack: see Makefile (pkg-config dtrack).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dtrack/dtrack.h>

#define PAGE_SIZE 4096
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum { MATCHED = 0, MISMATCH = 1, SETUP_FAILED = 2 };

/* Prints a failed dt_ call with dtrack's own explanation (cause and fix). */
static int dt_failed(const char *call, int rc) {
    fprintf(stderr, "%s failed (%d): %s\n", call, rc, dt_last_error());
    return SETUP_FAILED;
}

/* Prints the pages dtrack reported and compares them with the expected ones. */
static int check_pages(const char *part, const uint64_t *got, size_t n_got, const uint64_t *want, size_t n_want) {
    size_t i;
    int same = n_got == n_want;
    printf("%s: dirty pages", part);
    for (i = 0; i < n_got; i++) {
        printf(" %llu", (unsigned long long)got[i]);
        if (i < n_want && got[i] != want[i]) same = 0;
    }
    if (same) {
        printf(": as written\n");
        return MATCHED;
    }
    printf(": MISMATCH, written were");
    for (i = 0; i < n_want; i++) printf(" %llu", (unsigned long long)want[i]);
    printf("\n");
    return MISMATCH;
}

/* ---- part 1: this process's own memory, with userfaultfd ----------------- */

struct page_list {
    uint64_t pages[64];
    size_t count;
};

/* dt_take_pages calls this for every dirty page, in increasing order. */
static void collect_page(void *user, uint64_t page) {
    struct page_list *list = user;
    if (list->count < ARRAY_LEN(list->pages)) list->pages[list->count] = page;
    list->count++;
}

static int track_own_memory(void) {
    enum { PAGES = 64 };
    static const uint64_t written[] = {1, 7, 8, 33, 63};
    struct page_list dirty = {{0}, 0};
    dt_tracker *tracker = NULL;
    int region, rc, result = SETUP_FAILED;
    size_t i;
    uint8_t *memory = mmap(NULL, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (memory == MAP_FAILED) {
        perror("mmap");
        return SETUP_FAILED;
    }
    if ((rc = dt_tracker_create(&tracker)) < 0) {
        result = dt_failed("dt_tracker_create", rc);
        goto out;
    }
    region = dt_add_host_range(tracker, "own memory", memory, PAGES);
    if (region < 0) {
        result = dt_failed("dt_add_host_range", region);
        goto out;
    }
    if ((rc = dt_uffd_track(tracker, (uint32_t)region)) < 0) {
        result = dt_failed("dt_uffd_track", rc);
        goto out;
    }
    /* A first sync: from here on, every write is reported. */
    if ((rc = dt_sync(tracker, DT_SYNC_ROUND, NULL)) < 0) {
        result = dt_failed("dt_sync", rc);
        goto out;
    }
    for (i = 0; i < ARRAY_LEN(written); i++) memory[written[i] * PAGE_SIZE + 100] = 0xab;

    if ((rc = dt_sync(tracker, DT_SYNC_ROUND, NULL)) < 0) {
        result = dt_failed("dt_sync", rc);
        goto out;
    }
    if ((rc = (int)dt_take_pages(tracker, (uint32_t)region, 0, PAGES, collect_page, &dirty)) < 0) {
        result = dt_failed("dt_take_pages", rc);
        goto out;
    }
    result = check_pages("uffd", dirty.pages, dirty.count, written, ARRAY_LEN(written));
out:
    dt_tracker_destroy(tracker);
    munmap(memory, PAGES * PAGE_SIZE);
    return result;
}

/* ---- part 2: a tiny KVM guest --------------------------------------------- */

enum { GUEST_PAGES = 16, CODE_PAGE = 1 };
static const uint64_t guest_written[] = {3, 5, 9, 12};

struct vm {
    int kvm, vm, vcpu;
    uint8_t *memory; /* guest-physical 0 .. GUEST_PAGES * PAGE_SIZE */
    struct kvm_run *run;
    size_t run_size;
};

/* Sets memslot 0 with or without dirty logging. */
static int set_memslot(struct vm *v, uint32_t flags) {
    struct kvm_userspace_memory_region slot = {
        .slot = 0,
        .flags = flags,
        .guest_phys_addr = 0,
        .memory_size = GUEST_PAGES * PAGE_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)v->memory,
    };
    return ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &slot);
}

/* The dirty ring's way back after a jam: write-protect all memory again by
 * turning dirty logging off and on (dt_ring_opts.rearm). */
static int rearm_dirty_logging(void *user) {
    struct vm *v = user;
    if (set_memslot(v, 0) < 0 || set_memslot(v, KVM_MEM_LOG_DIRTY_PAGES) < 0) return -errno;
    return 0;
}

/* Opens /dev/kvm and creates an empty VM; on failure says why in `why`. */
static int open_vm(struct vm *v, char *why, size_t why_len) {
    int api;
    v->kvm = v->vm = v->vcpu = -1;
    v->memory = MAP_FAILED;
    v->run = MAP_FAILED;
    v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (v->kvm < 0) {
        snprintf(why, why_len, "cannot open /dev/kvm: %s", strerror(errno));
        return -1;
    }
    api = ioctl(v->kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(why, why_len, "/dev/kvm does not speak KVM API %d (%s)", KVM_API_VERSION,
                 api < 0 ? strerror(errno) : "another version");
        return -1;
    }
    v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
    if (v->vm < 0) {
        snprintf(why, why_len, "KVM_CREATE_VM: %s", strerror(errno));
        return -1;
    }
    v->memory = mmap(NULL, GUEST_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v->memory == MAP_FAILED) {
        snprintf(why, why_len, "mmap: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Real-mode code at CODE_PAGE: `mov byte [page * 4096], 1` for each
 * written page, then `hlt`. DS is 0, so the addresses are guest-physical. */
static void load_guest_code(struct vm *v) {
    uint8_t *code = v->memory + CODE_PAGE * PAGE_SIZE;
    size_t i;
    for (i = 0; i < ARRAY_LEN(guest_written); i++) {
        uint16_t address = (uint16_t)(guest_written[i] * PAGE_SIZE);
        *code++ = 0xc6; /* mov byte [disp16], imm8 */
        *code++ = 0x06;
        *code++ = (uint8_t)(address & 0xff);
        *code++ = (uint8_t)(address >> 8);
        *code++ = 0x01;
    }
    *code = 0xf4; /* hlt */
}

/* Creates the vCPU, starting at the code in real mode with all segments at 0. */
static int create_vcpu(struct vm *v) {
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    int run_size;

    v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
    if (v->vcpu < 0) return -1;
    run_size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < 0) return -1;
    v->run_size = (size_t)run_size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
    if (v->run == MAP_FAILED) return -1;
    if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0) return -1;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    sregs.ds.base = 0;
    sregs.ds.selector = 0;
    if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0) return -1;
    memset(&regs, 0, sizeof regs);
    regs.rip = CODE_PAGE * PAGE_SIZE;
    regs.rflags = 2; /* bit 1 is always set */
    return ioctl(v->vcpu, KVM_SET_REGS, &regs);
}

/* Runs the vCPU until it halts. A full dirty ring stops KVM_RUN with
 * KVM_EXIT_DIRTY_RING_FULL: dt_ring_on_full empties it, then run again. */
static int run_until_halt(struct vm *v, dt_ring *ring) {
    for (;;) {
        if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) continue;
            perror("KVM_RUN");
            return -1;
        }
        switch (v->run->exit_reason) {
            case KVM_EXIT_HLT: return 0;
            case KVM_EXIT_DIRTY_RING_FULL:
                if (ring && dt_ring_on_full(ring, 0) == 0) break;
                fprintf(stderr, "dirty ring full: %s\n", dt_last_error());
                return -1;
            default: fprintf(stderr, "unexpected KVM exit %u\n", v->run->exit_reason); return -1;
        }
    }
}

static void close_vm(struct vm *v) {
    if (v->run != MAP_FAILED) munmap(v->run, v->run_size);
    if (v->vcpu >= 0) close(v->vcpu);
    if (v->memory != MAP_FAILED) munmap(v->memory, GUEST_PAGES * PAGE_SIZE);
    if (v->vm >= 0) close(v->vm);
    if (v->kvm >= 0) close(v->kvm);
}

/* Tracks the guest with the dirty ring (use_ring) or the dirty log. KVM's
 * order: regions, then the ring (before any vCPU exists) or the log (before
 * the memslot has dirty logging), then the memslot, then the vCPU. */
static int track_guest(int use_ring, int *skipped) {
    const char *part = use_ring ? "kvm (dirty ring)" : "kvm (dirty log)";
    struct vm v;
    dt_tracker *tracker = NULL;
    dt_ring *ring = NULL;
    dt_log *log = NULL;
    uint64_t bitmap[(GUEST_PAGES + 63) / 64] = {0};
    uint64_t dirty[GUEST_PAGES];
    size_t n = 0;
    char why[256];
    int rc, result = SETUP_FAILED;
    uint64_t page;

    if (open_vm(&v, why, sizeof why) < 0) {
        printf("kvm: skipped: %s\n", why);
        *skipped = 1;
        close_vm(&v);
        return MATCHED;
    }
    if ((rc = dt_tracker_create(&tracker)) < 0 || (rc = dt_add_memslot(tracker, "slot 0", 0, 0, GUEST_PAGES)) < 0) {
        result = dt_failed("dt_tracker_create / dt_add_memslot", rc);
        goto out;
    }
    if (use_ring) {
        struct dt_ring_opts opts = {.sz = sizeof opts, .entries = 256, .rearm = rearm_dirty_logging, .rearm_user = &v};
        rc = dt_ring_enable(tracker, v.vm, &opts, &ring);
        if (rc == -ENOTSUP) { /* a kernel without the ring: the dirty log below still runs */
            printf("%s: skipped: %s\n", part, dt_last_error());
            result = MATCHED;
            goto out;
        }
    } else {
        rc = dt_log_enable(tracker, v.vm, NULL, &log);
    }
    if (rc < 0) {
        result = dt_failed(use_ring ? "dt_ring_enable" : "dt_log_enable", rc);
        goto out;
    }
    if (set_memslot(&v, KVM_MEM_LOG_DIRTY_PAGES) < 0 || create_vcpu(&v) < 0) {
        perror("KVM memslot / vCPU");
        goto out;
    }
    if (ring && (rc = dt_ring_add_vcpu(ring, v.vcpu, 0)) < 0) {
        result = dt_failed("dt_ring_add_vcpu", rc);
        goto out;
    }
    load_guest_code(&v); /* the VMM's own writes are not the guest's: KVM does not log them */

    /* A first sync and take: the dirty log starts with every page set. */
    if ((rc = dt_sync(tracker, DT_SYNC_ROUND, NULL)) < 0 ||
        (rc = (int)dt_take_bitmap(tracker, 0, 0, GUEST_PAGES, bitmap, ARRAY_LEN(bitmap))) < 0) {
        result = dt_failed("first dt_sync / dt_take_bitmap", rc);
        goto out;
    }
    memset(bitmap, 0, sizeof bitmap);

    if (run_until_halt(&v, ring) < 0) goto out;
    if ((rc = dt_sync(tracker, DT_SYNC_ROUND, NULL)) < 0 ||
        (rc = (int)dt_take_bitmap(tracker, 0, 0, GUEST_PAGES, bitmap, ARRAY_LEN(bitmap))) < 0) {
        result = dt_failed("dt_sync / dt_take_bitmap", rc);
        goto out;
    }
    /* The bitmap: page i is bit i % 64 of word i / 64. */
    for (page = 0; page < GUEST_PAGES; page++)
        if (bitmap[page / 64] >> (page % 64) & 1) dirty[n++] = page;
    result = check_pages(part, dirty, n, guest_written, ARRAY_LEN(guest_written));
out:
    dt_tracker_destroy(tracker); /* also stops the ring's reaper, if one ran */
    close_vm(&v);
    return result;
}

int main(void) {
    int result, kvm_skipped = 0;
    printf("libdtrack %s (built against dtrack.h %d.%d.%d)\n", dt_version(), DT_VERSION_MAJOR, DT_VERSION_MINOR,
           DT_VERSION_PATCH);
    result = track_own_memory();
    if (result == MATCHED) result = track_guest(1, &kvm_skipped);
    if (result == MATCHED && !kvm_skipped) result = track_guest(0, &kvm_skipped);
    return result;
}
