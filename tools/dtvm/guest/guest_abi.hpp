// The contract between dtvm's VMM and its guest (guest.S): the per-vCPU
// parameter page, the flags, the exit port. guest.S repeats these numbers as
// `.equ`s and also lists them in a table (dtvm_guest_abi_table) that
// Vm::create checks against this header, so the two cannot drift apart
// silently.
//
// Each vCPU has one parameter page; RDI holds its guest-physical address at
// the first instruction. Every field is a little-endian u64 at the offset
// given here.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace dtvm::guest_abi {

// --- written by the VMM before the vCPU first runs ---------------------------
inline constexpr uint64_t kParamVcpuId = 0;         // low byte of every stamp
inline constexpr uint64_t kParamFlags = 8;          // kFlag* below
inline constexpr uint64_t kParamVifGpa = 16;        // page for the PVM VIF MSR
inline constexpr uint64_t kParamPartGpa = 24;       // first byte of this vCPU's part of the working set
inline constexpr uint64_t kParamPartPages = 32;     // pages in that part (>= 1)
inline constexpr uint64_t kParamPattern = 40;       // kPattern* below
inline constexpr uint64_t kParamHotPages = 48;      // hotcold: the first kParamHotPages of the part are hot
inline constexpr uint64_t kParamHotThreshold = 56;  // hotcold: hot when (rand >> 32) < this; 0..2^32
inline constexpr uint64_t kParamRngSeed = 64;       // xorshift64 state, never 0
inline constexpr uint64_t kParamExitEvery = 72;     // `out` every this many writes; 0 = never
// A writer rewrites this many 8-byte words per page write (1..512): the
// stamp at offset 0, and before it words 1.. with the fill PRNG's numbers.
inline constexpr uint64_t kParamWriteWords = 88;
inline constexpr uint64_t kParamFillSeed = 96;  // the fill's xorshift64 state, never 0 (not kParamRngSeed's)
// --- written by the VMM only while the vCPU is parked; the guest re-reads it
//     after every exit ------------------------------------------------------
inline constexpr uint64_t kParamEpoch = 80;  // stamp = epoch << 8 | vcpu id
// --- written by the guest just before every exit -----------------------------
inline constexpr uint64_t kParamWrites = 128;  // page writes so far (cumulative)
// A reader (kFlagReader) writes no page: its count of page reads so far goes
// in the same slot, under this name.
inline constexpr uint64_t kParamReads = kParamWrites;

inline constexpr uint64_t kFlagRegisterVif = 1;  // wrmsr kPvmVifMsr first (PVM hosts only)
inline constexpr uint64_t kFlagReader = 2;       // load from each page picked, store nothing (vcpu_role.hpp)

inline constexpr uint64_t kPatternSequential = 0;
inline constexpr uint64_t kPatternRandom = 1;
inline constexpr uint64_t kPatternHotCold = 2;

// The guest's only exit: `out %al, $kExitPort` every kParamExitEvery writes.
inline constexpr uint16_t kExitPort = 0x10;

// Between two exits the guest keeps its state in registers (each memory
// access costs extra under the emulator). When the VMM kicks a vCPU out of
// KVM_RUN between exits it reads the write count (a reader's: its read count)
// from r13 and, if the epoch changed while it was parked, puts the new stamp
// in r15 (kvm_regs fields; a reader never stores it).
inline constexpr auto kRegWrites = &kvm_regs::r13;
inline constexpr auto kRegStamp = &kvm_regs::r15;

// PVM's "virtual interrupt flag" page MSR. docs/ARCHITECTURE.md §6: a 64-bit guest on this
// PVM host runs natively only once it has written a page-aligned GPA here
// (or starts at CPL 3); until then KVM emulates every instruction.
inline constexpr uint32_t kPvmVifMsr = 0x4b564d10;

// The order of guest.S's dtvm_guest_abi_table (one .quad each).
inline constexpr uint64_t kAbiTable[] = {
    kParamVcpuId,     kParamFlags,        kParamVifGpa,   kParamPartGpa,   kParamPartPages, kParamPattern,
    kParamHotPages,   kParamHotThreshold, kParamRngSeed,  kParamExitEvery, kParamEpoch,     kParamWrites,
    kFlagRegisterVif, kPatternSequential, kPatternRandom, kPatternHotCold, kExitPort,       kPvmVifMsr,
    kFlagReader,      kParamWriteWords,   kParamFillSeed,
};

}  // namespace dtvm::guest_abi
