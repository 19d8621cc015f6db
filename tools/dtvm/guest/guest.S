/*
 * dtvm's guest: a 64-bit loop that stamps pages of its working set.
 *
 * The bytes between dtvm_guest_start and dtvm_guest_end are linked into the
 * dtvm binary as data; the VMM copies them to a fixed guest-physical address
 * and starts every vCPU at the first byte, in 64-bit mode at CPL 0 with an
 * identity map of guest RAM (see long_mode.cpp). So the code must not depend
 * on where it is: only relative jumps to local labels and absolute constants,
 * no data of its own (tool.mk refuses an object with relocations).
 *
 * At entry RDI = this vCPU's parameter page (layout in guest_abi.hpp,
 * repeated below). The guest:
 *   1. on a PVM host (flag), registers its virtual-interrupt-flag page with
 *      wrmsr; docs/ARCHITECTURE.md §6: until it does, PVM emulates every instruction;
 *   2. loops forever: pick a page of its part of the working set per the
 *      pattern, fill its words 1 .. write_words-1 with random numbers, store
 *      the stamp  epoch << 8 | vcpu id  at offset 0 of it,
 *      count it, and every exit_every writes publish the count in the
 *      parameter page and `out` to EXIT_PORT, so the VMM gets KVM_EXIT_IO.
 *      A reader (flag; its part is the whole working set) loads the 8 bytes
 *      at offset 0 instead and stores nothing there: it counts and exits
 *      the same way, its reads in place of writes.
 * Nothing else exits: an exit costs ~15 us on this nested host.
 *
 * The loops are short on purpose: under KVM's emulator (VmOptions::emulated)
 * every instruction costs about a microsecond, and the dirty-ring jam test
 * needs many page writes per 1024-instruction emulator batch.
 */

        /* parameter page offsets: keep in sync with guest_abi.hpp */
        .equ P_VCPU_ID,        0
        .equ P_FLAGS,          8
        .equ P_VIF_GPA,        16
        .equ P_PART_GPA,       24
        .equ P_PART_PAGES,     32
        .equ P_PATTERN,        40
        .equ P_HOT_PAGES,      48
        .equ P_HOT_THRESHOLD,  56
        .equ P_RNG_SEED,       64
        .equ P_EXIT_EVERY,     72
        .equ P_EPOCH,          80
        .equ P_WRITE_WORDS,    88
        .equ P_FILL_SEED,      96
        .equ P_WRITES,         128

        .equ FLAG_REGISTER_VIF,   1
        .equ FLAG_READER,         2
        .equ PATTERN_SEQUENTIAL,  0
        .equ PATTERN_RANDOM,      1
        .equ PATTERN_HOTCOLD,     2
        .equ EXIT_PORT,           0x10
        .equ PVM_VIF_MSR,         0x4b564d10

/*
 * Registers for the whole run (the VMM reads r13 and sets r15 through
 * KVM_GET/SET_REGS when it kicked the vCPU out between two exits; see
 * guest_abi.hpp):
 *   rbx parameter page            r15 the stamp: epoch << 8 | vcpu id
 *   r8  first byte of the part    r13 writes (a reader: reads) so far
 *   r9  pages in the part         r11 accesses left until the next exit
 *   r12 xorshift64 state          r14 sequential: next page
 *   rbp hot pages                 rcx sequential: end of the part
 *   rdi hot threshold (fixed point, 2^32 = always hot)
 *   rsi the page to write (a reader: to read)
 *   r10 a reader: the sum of the words it read; a writer: the fill's
 *       xorshift64 state (its own, so the pages picked do not depend on
 *       the write size); rax, rdx scratch
 */

/* stamp = epoch << 8 | vcpu id, re-read at every exit: the VMM changes the
 * epoch only while the vCPU is parked at an exit (or sets r15 itself). */
.macro LOAD_STAMP
        mov     P_EPOCH(%rbx), %r15
        shl     $8, %r15
        or      P_VCPU_ID(%rbx), %r15
.endm

/* After the access at rsi: count it, after it, so the count never exceeds
 * the accesses done. Every exit_every accesses: publish the count (a
 * reader's reads go in the same slot), exit, pick up a new epoch and
 * exit_every (0 = never exit again: the countdown wraps). */
.macro COUNT_ACCESS loop
        inc     %r13
        dec     %r11
        jnz     \loop
        mov     %r13, P_WRITES(%rbx)
        out     %al, $EXIT_PORT
        mov     P_EXIT_EVERY(%rbx), %r11
        LOAD_STAMP
        jmp     \loop
.endm

/* A writer's access, the write at rsi: first words write_words-1 .. 1 of
 * the page, last first, each the fill PRNG's next number (none when
 * write_words is 1, the default: three instructions), then the stamp at
 * offset 0 with one aligned 8-byte store, so the checker never sees half a
 * stamp and a vCPU stopped anywhere has only whole stamps. */
.macro STAMP_PAGE loop
        mov     P_WRITE_WORDS(%rbx), %rdx
        dec     %rdx
        jz      5f
        shl     $3, %rdx
4:      XORSHIFT64 %r10
        mov     %r10, (%rsi,%rdx)
        sub     $8, %rdx
        jnz     4b
5:      mov     %r15, (%rsi)
        COUNT_ACCESS \loop
.endm

/* A reader's access: one aligned 8-byte load from rsi, added to r10 (the
 * sum is never used: the load is the point). Nothing is stored. */
.macro READ_PAGE loop
        add     (%rsi), %r10
        COUNT_ACCESS \loop
.endm

/* xorshift64 on \x (r12, the pages' PRNG, by default; rax is scratch):
 * x ^= x << 13; x ^= x >> 7; x ^= x << 17 (never 0 from non-0) */
.macro XORSHIFT64 x=%r12
        mov     \x, %rax
        shl     $13, %rax
        xor     %rax, \x
        mov     \x, %rax
        shr     $7, %rax
        xor     %rax, \x
        mov     \x, %rax
        shl     $17, %rax
        xor     %rax, \x
.endm

/* The three patterns, each a loop that picks the next page of the part into
 * rsi and does \access on it (STAMP_PAGE or READ_PAGE); \role keeps the
 * labels of the writer's and the reader's copy apart. Expects the registers
 * set up, the pattern in the parameter page. */
.macro PATTERN_LOOPS access, role
        mov     P_PATTERN(%rbx), %rax
        cmp     $PATTERN_RANDOM, %rax
        je      .Lrandom_\role
        cmp     $PATTERN_HOTCOLD, %rax
        je      .Lhotcold_\role

/* sequential: sweep the part, page after page, and wrap */
        mov     %r8, %r14
        mov     %r9, %rcx
        shl     $12, %rcx
        add     %r8, %rcx
.Lsequential_\role:
        mov     %r14, %rsi
        add     $4096, %r14
        cmp     %rcx, %r14
        jb      1f
        mov     %r8, %r14
1:      \access .Lsequential_\role

/* random: page = rand * pages >> 64, uniform over the part */
.Lrandom_\role:
        XORSHIFT64
        mov     %r12, %rax
        mul     %r9
        shl     $12, %rdx
        lea     (%r8,%rdx), %rsi
        \access .Lrandom_\role

/* hotcold: the high half of the random number picks hot (below the
 * threshold) or cold, the low half the page within that side:
 * index = low32 * count >> 32 (parts are < 2^32 pages, so it fits). */
.Lhotcold_\role:
        XORSHIFT64
        mov     %r12, %rax
        shr     $32, %rax
        mov     %r12d, %edx
        cmp     %rdi, %rax
        jb      2f
        mov     %r9, %rax               /* cold: [hot, pages) */
        sub     %rbp, %rax
        imul    %rdx, %rax
        shr     $32, %rax
        add     %rbp, %rax
        jmp     3f
2:      mov     %rbp, %rax              /* hot: [0, hot) */
        imul    %rdx, %rax
        shr     $32, %rax
3:      shl     $12, %rax
        lea     (%r8,%rax), %rsi
        \access .Lhotcold_\role
.endm

        .section .rodata.dtvm_guest, "a"
        .code64
        .globl  dtvm_guest_start
        .globl  dtvm_guest_end
dtvm_guest_start:
        mov     %rdi, %rbx
        testq   $FLAG_REGISTER_VIF, P_FLAGS(%rbx)
        jz      .Lsetup
        mov     $PVM_VIF_MSR, %ecx
        mov     P_VIF_GPA(%rbx), %rax
        mov     %rax, %rdx
        shr     $32, %rdx               /* wrmsr takes edx:eax */
        wrmsr
.Lsetup:
        mov     P_PART_GPA(%rbx), %r8
        mov     P_PART_PAGES(%rbx), %r9
        mov     P_HOT_PAGES(%rbx), %rbp
        mov     P_HOT_THRESHOLD(%rbx), %rdi
        mov     P_RNG_SEED(%rbx), %r12
        mov     P_WRITES(%rbx), %r13
        mov     P_EXIT_EVERY(%rbx), %r11
        LOAD_STAMP
        testq   $FLAG_READER, P_FLAGS(%rbx)
        jnz     .Lreader
        mov     P_FILL_SEED(%rbx), %r10
        PATTERN_LOOPS STAMP_PAGE, writer
.Lreader:
        xor     %r10d, %r10d
        PATTERN_LOOPS READ_PAGE, reader
dtvm_guest_end:

/* The numbers above, in guest_abi.hpp's kAbiTable order, for Vm::create to
 * compare with the header. Not copied into the guest. */
        .section .rodata.dtvm_guest_abi, "a"
        .p2align 3
        .globl  dtvm_guest_abi_table
        .globl  dtvm_guest_abi_table_end
dtvm_guest_abi_table:
        .quad   P_VCPU_ID, P_FLAGS, P_VIF_GPA, P_PART_GPA, P_PART_PAGES, P_PATTERN
        .quad   P_HOT_PAGES, P_HOT_THRESHOLD, P_RNG_SEED, P_EXIT_EVERY, P_EPOCH, P_WRITES
        .quad   FLAG_REGISTER_VIF, PATTERN_SEQUENTIAL, PATTERN_RANDOM, PATTERN_HOTCOLD, EXIT_PORT
        .quad   PVM_VIF_MSR, FLAG_READER, P_WRITE_WORDS, P_FILL_SEED
dtvm_guest_abi_table_end:

        .section .note.GNU-stack, "", @progbits
