/*
 * A boot sector for QEMU under KVM whose write loop runs natively on every
 * KVM host, PVM included: the known dirty set of dirtying_guest.S at full
 * guest speed, so the dirty ring fills the way the kernel documents.
 *
 * On this project's PVM hosts (docs: DESIGN.md, "Environment facts") a
 * real-mode or protected-mode guest runs under KVM's instruction emulator;
 * a guest runs natively once it is in long mode with 4-level paging, the
 * User bit in every present entry at every level, and at CPL 3. CPL 3 and
 * not PVM's VIF MSR: on a VMX/SVM host the same code runs with no PVM-only
 * step (that MSR would fault there).
 *
 * SeaBIOS loads these 512 bytes at 0x7c00 and jumps here in real mode. The
 * code builds an identity map of the first 1 GiB (2 MiB pages) at
 * 0x1000-0x3fff, enters long mode, writes 'L' to QEMU's debugcon at port
 * 0xe9 (the harness waits for it: the guest reached its loop), and iretq's
 * to a ring-3 code segment with IOPL 3. There it loops forever: each pass stores the
 * pass number into the first 8 bytes of every page of
 * [GUEST_FIRST, GUEST_FIRST + GUEST_PAGES pages), and every PASSES_PER_MARK
 * passes it writes '.' to debugcon, so the file's growth is the guest's
 * speed. tests/support/qemu_vm.hpp repeats the constants.
 */
    .set GUEST_FIRST, 0x1000000   /* 16 MiB: above everything the BIOS uses */
    .set GUEST_PAGES, 16384       /* 64 MiB of 4 KiB pages */
    .set PASSES_PER_MARK, 256
    .set DEBUGCON_PORT, 0xe9      /* not 0x402: SeaBIOS logs there */

    .set PML4, 0x1000             /* free low memory once the BIOS has booted us */
    .set PDPT, 0x2000
    .set PD,   0x3000
    .set TABLE, 0x7               /* present, writable, user: PVM wants User everywhere */
    .set LARGE, 0x87              /* the same, and a 2 MiB page */

    .set KERNEL_CODE, 0x08
    .set KERNEL_DATA, 0x10
    .set USER_DATA,   0x18 | 3
    .set USER_CODE,   0x20 | 3

    .code16
    .globl _start
_start:
    cli
    xor   %ax, %ax
    mov   %ax, %ds
    mov   %ax, %es
    mov   %ax, %ss
    mov   $0x7c00, %sp
    in    $0x92, %al              /* fast A20 gate: addresses above 1 MiB */
    or    $2, %al
    and   $0xfe, %al              /* bit 0 would reset the machine */
    out   %al, $0x92

    /* PML4, PDPT and PD zeroed, then one entry each for the first two and
     * 512 2 MiB pages in the PD: the first 1 GiB, identity-mapped. */
    cld
    mov   $PML4, %di
    mov   $3 * 1024, %cx
    xor   %eax, %eax
    rep stosl
    movl  $PDPT | TABLE, PML4
    movl  $PD | TABLE, PDPT
    mov   $PD, %di
    mov   $LARGE, %eax
    mov   $512, %cx
1:  mov   %eax, (%di)
    add   $8, %di
    add   $0x200000, %eax
    loop  1b

    lgdtl gdt_descriptor
    mov   $PML4, %eax
    mov   %eax, %cr3
    mov   %cr4, %eax
    or    $0x20, %eax             /* CR4.PAE */
    mov   %eax, %cr4
    mov   $0xc0000080, %ecx       /* EFER */
    rdmsr
    or    $0x100, %eax            /* EFER.LME; LMA follows with CR0.PG */
    wrmsr
    mov   %cr0, %eax
    or    $0x80000001, %eax       /* CR0.PG | CR0.PE: straight into long mode */
    mov   %eax, %cr0
    ljmpl $KERNEL_CODE, $long_mode

    .code64
long_mode:
    mov   $KERNEL_DATA, %ax
    mov   %ax, %ds
    mov   %ax, %es
    mov   %ax, %ss
    mov   $0x7c00, %rsp
    mov   $'L', %al               /* reached long mode: the harness may measure */
    out   %al, $DEBUGCON_PORT
    /* iretq to ring 3: SS, RSP, RFLAGS (IOPL 3 for the marks, IF 0), CS, RIP */
    pushq $USER_DATA
    pushq $0x7000
    pushq $0x3002
    pushq $USER_CODE
    pushq $user_loop
    iretq

user_loop:
    xor   %ebx, %ebx              /* pass number: new contents every pass */
next_pass:
    inc   %rbx
    mov   $GUEST_FIRST, %edi
    mov   $GUEST_PAGES, %ecx
next_page:
    mov   %rbx, (%rdi)
    add   $4096, %rdi
    dec   %ecx
    jnz   next_page
    test  $PASSES_PER_MARK - 1, %ebx
    jnz   next_pass
    mov   $'.', %al
    out   %al, $DEBUGCON_PORT
    jmp   next_pass

    .p2align 3
gdt:
    .quad 0
    .quad 0x00af9a000000ffff      /* 0x08: code, DPL 0, 64-bit (L=1) */
    .quad 0x00cf92000000ffff      /* 0x10: data, DPL 0 */
    .quad 0x00cff2000000ffff      /* 0x18: data, DPL 3 */
    .quad 0x00affa000000ffff      /* 0x20: code, DPL 3, 64-bit (L=1) */
gdt_descriptor:
    .word gdt_descriptor - gdt - 1
    .long gdt

    .org  510
    .byte 0x55, 0xaa              /* the BIOS boots only a signed sector */
