// KvmStateReader against real KVM VMs of this process: the kernel's own
// record of whether a VM logs dirty pages, read while a VMM switches logging
// on and off the way QEMU does (re-setting a memslot with or without
// KVM_MEM_LOG_DIRTY_PAGES), with the bitmap and with the ring.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

#include "dtrack/kvm_vm_state.hpp"
#include "dtrack/unique_fd.hpp"
#include "support/backends.hpp"
#include "support/bpf_objects.hpp"

namespace {

using dtrack::DirtyLogging;
using dtrack::KvmStateReader;
using dtrack::KvmVmState;

constexpr uint64_t kSlotPages = 256;

// A VM with two memslots over anonymous memory, logging off, as QEMU starts.
struct TwoSlotVm {
    dtrack::UniqueFd kvm{::open("/dev/kvm", O_RDWR | O_CLOEXEC)};
    dtrack::UniqueFd vm;
    dtrack::UniqueFd vcpu;
    void* memory = MAP_FAILED;

    ~TwoSlotVm() {
        if (memory != MAP_FAILED) ::munmap(memory, 2 * kSlotPages * 4096);
    }
    ::testing::AssertionResult create(uint32_t ring_entries = 0) {
        if (!kvm.valid()) return ::testing::AssertionFailure() << "open /dev/kvm";
        vm.reset(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
        if (!vm.valid()) return ::testing::AssertionFailure() << "KVM_CREATE_VM";
        if (ring_entries) {
            kvm_enable_cap cap{.cap = KVM_CAP_DIRTY_LOG_RING, .args = {ring_entries * 16ull}};
            if (::ioctl(vm.get(), KVM_ENABLE_CAP, &cap) < 0)
                return ::testing::AssertionFailure() << "KVM_ENABLE_CAP(DIRTY_LOG_RING)";
        }
        memory = ::mmap(nullptr, 2 * kSlotPages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) return ::testing::AssertionFailure() << "mmap";
        for (uint32_t slot : {0u, 1u})
            if (auto r = set_logging(slot, false); !r) return r;
        vcpu.reset(::ioctl(vm.get(), KVM_CREATE_VCPU, 0));
        if (!vcpu.valid()) return ::testing::AssertionFailure() << "KVM_CREATE_VCPU";
        return ::testing::AssertionSuccess();
    }
    // What QEMU does to start or stop logging a memslot: set it again with
    // the flag changed.
    ::testing::AssertionResult set_logging(uint32_t slot, bool on) {
        kvm_userspace_memory_region region{
            .slot = slot,
            .flags = on ? uint32_t(KVM_MEM_LOG_DIRTY_PAGES) : 0u,
            .guest_phys_addr = slot * kSlotPages * 4096,
            .memory_size = kSlotPages * 4096,
            .userspace_addr = reinterpret_cast<uint64_t>(memory) + slot * kSlotPages * 4096};
        if (::ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
            return ::testing::AssertionFailure() << "KVM_SET_USER_MEMORY_REGION slot " << slot;
        return ::testing::AssertionSuccess();
    }
};

class KvmVmStateTest : public ::testing::Test {
protected:
    void SetUp() override {
        DTRACK_REQUIRE_BPF();
        DTRACK_REQUIRE_KVM();
    }
    // The one VM of this process the reader finds.
    KvmVmState only_vm(const KvmStateReader& reader) {
        auto vms = reader.read();
        EXPECT_TRUE(vms) << vms.error().message();
        if (!vms || vms->size() != 1) {
            ADD_FAILURE() << "expected one VM, found " << (vms ? vms->size() : 0);
            return {};
        }
        return vms->front();
    }
};

TEST_F(KvmVmStateTest, AVmWhoseMemslotsDoNotLogIsOffAndEachMemslotIsListed) {
    TwoSlotVm v;
    ASSERT_TRUE(v.create());
    auto reader = KvmStateReader::open(::getpid());
    ASSERT_TRUE(reader) << reader.error().message();
    const KvmVmState vm = only_vm(**reader);
    EXPECT_EQ(vm.fd, v.vm.get());
    EXPECT_EQ(vm.logging(), DirtyLogging::off);
    EXPECT_EQ(vm.memslots_logging, 0u);
    ASSERT_EQ(vm.memslots.size(), 2u);
    for (const auto& slot : vm.memslots) {
        EXPECT_FALSE(slot.logs_dirty);
        EXPECT_FALSE(slot.has_dirty_bitmap);
        EXPECT_EQ(slot.pages, kSlotPages);
        EXPECT_EQ(slot.base_gfn, slot.id * kSlotPages);
        EXPECT_EQ(slot.userspace_addr, reinterpret_cast<uint64_t>(v.memory) + slot.id * kSlotPages * 4096);
    }
}

TEST_F(KvmVmStateTest, TheBitmapStateFollowsTheVmmSwitchingLoggingOnAndOffAsItHappens) {
    TwoSlotVm v;
    ASSERT_TRUE(v.create());
    auto reader = KvmStateReader::open(::getpid());
    ASSERT_TRUE(reader) << reader.error().message();

    ASSERT_TRUE(v.set_logging(1, true));
    KvmVmState vm = only_vm(**reader);
    EXPECT_EQ(vm.logging(), DirtyLogging::bitmap);
    EXPECT_EQ(vm.memslots_logging, 1u);
    for (const auto& slot : vm.memslots) {
        EXPECT_EQ(slot.logs_dirty, slot.id == 1) << "memslot " << slot.id;
        EXPECT_EQ(slot.has_dirty_bitmap, slot.id == 1) << "memslot " << slot.id;
    }

    ASSERT_TRUE(v.set_logging(0, true));
    EXPECT_EQ(only_vm(**reader).memslots_logging, 2u);

    // Migration over: both off again, and the state says so at once.
    ASSERT_TRUE(v.set_logging(0, false));
    ASSERT_TRUE(v.set_logging(1, false));
    vm = only_vm(**reader);
    EXPECT_EQ(vm.logging(), DirtyLogging::off);
    EXPECT_EQ(vm.memslots_logging, 0u);
}

TEST_F(KvmVmStateTest, ARingVmLogsIntoItsRingsOnlyWhileAMemslotHasTheFlag) {
    TwoSlotVm v;
    ASSERT_TRUE(v.create(/*ring_entries=*/4096));
    auto reader = KvmStateReader::open(::getpid());
    ASSERT_TRUE(reader) << reader.error().message();

    // The ring is there from the start, but nothing is pushed into it while
    // no memslot logs: a figure from ring pushes would read 0 then.
    KvmVmState vm = only_vm(**reader);
    EXPECT_EQ(vm.ring_entries, 4096u);
    EXPECT_EQ(vm.logging(), DirtyLogging::off);

    ASSERT_TRUE(v.set_logging(0, true));
    ASSERT_TRUE(v.set_logging(1, true));
    vm = only_vm(**reader);
    EXPECT_EQ(vm.logging(), DirtyLogging::ring);
    for (const auto& slot : vm.memslots) {
        EXPECT_TRUE(slot.logs_dirty);
        EXPECT_FALSE(slot.has_dirty_bitmap) << "a ring VM keeps no bitmap";
    }

    ASSERT_TRUE(v.set_logging(0, false));
    ASSERT_TRUE(v.set_logging(1, false));
    EXPECT_EQ(only_vm(**reader).logging(), DirtyLogging::off);
}

TEST_F(KvmVmStateTest, EachOfSeveralVmsOfOneProcessHasItsOwnState) {
    TwoSlotVm a, b;
    ASSERT_TRUE(a.create());
    ASSERT_TRUE(b.create(/*ring_entries=*/1024));
    ASSERT_TRUE(b.set_logging(0, true));
    auto reader = KvmStateReader::open(::getpid());
    ASSERT_TRUE(reader) << reader.error().message();
    auto vms = (*reader)->read();
    ASSERT_TRUE(vms) << vms.error().message();
    ASSERT_EQ(vms->size(), 2u);
    const auto by_fd = [&](int fd) {
        return *std::find_if(vms->begin(), vms->end(), [&](auto& s) { return s.fd == fd; });
    };
    EXPECT_EQ(by_fd(a.vm.get()).logging(), DirtyLogging::off);
    EXPECT_EQ(by_fd(b.vm.get()).logging(), DirtyLogging::ring);
    EXPECT_EQ(by_fd(b.vm.get()).memslots_logging, 1u);
}

TEST(KvmVmStateReader, AProcessThatRunsNoVmHasNoVmState) {
    DTRACK_REQUIRE_BPF();
    const pid_t child = ::fork();
    if (child == 0) {
        ::pause();
        ::_exit(0);
    }
    auto reader = KvmStateReader::open(child);
    auto vms = reader ? (*reader)->read() : dtrack::Result<std::vector<KvmVmState>>(reader.error());
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ASSERT_TRUE(vms) << vms.error().message();
    EXPECT_TRUE(vms->empty());
}

TEST(KvmVmStateReader, AMissingProcessIsRefusedWithTheFixAndLoadsNothing) {
    DTRACK_REQUIRE_BPF();
    const int before = dtrack_test::open_bpf_objects();
    auto reader = KvmStateReader::open(dtrack_test::gone_pid());
    ASSERT_FALSE(reader);
    EXPECT_EQ(reader.error().errno_value, ESRCH);
    EXPECT_NE(reader.error().fix.find("PID"), std::string::npos) << reader.error().message();
    EXPECT_EQ(dtrack_test::open_bpf_objects(), before);
}

}  // namespace
