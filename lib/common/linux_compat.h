/* Kernel uapi that Debian 12's Linux 6.1 headers lack.
 *
 * Values are the kernel's ABI (include/uapi/linux/{fs,userfaultfd,kvm}.h of
 * Linux 6.7+). Each block is guarded so newer system headers win. */
#ifndef DTRACK_LINUX_COMPAT_H
#define DTRACK_LINUX_COMPAT_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/kvm.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

/* PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7). */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
    __u64 start;
    __u64 end; /* exclusive */
    __u64 categories;
};

#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
    __u64 size;
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* userfaultfd features newer than 6.1. */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* KVM: dirty ring together with a bitmap for writes made outside a vCPU. */
#ifndef KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP
#define KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP 225
#endif

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define DTRACK_PM_SOFT_DIRTY (1ULL << 55)
#define DTRACK_PM_PRESENT (1ULL << 63)

#endif
