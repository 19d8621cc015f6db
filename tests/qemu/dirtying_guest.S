/*
 * A boot sector that turns QEMU into a VMM with a known dirty set, for tests
 * that measure a real third-party VMM (QEMU under TCG, no KVM needed).
 *
 * SeaBIOS loads these 512 bytes at 0x7c00 and jumps here in real mode. The
 * code enables A20, enters 32-bit protected mode with flat segments, then
 * loops forever: each pass stores the pass number into the first word of
 * every page of [GUEST_FIRST, GUEST_FIRST + GUEST_PAGES pages). A pass takes
 * well under a millisecond under TCG, so any interval of a measurement sees
 * exactly those GUEST_PAGES pages changed, with new contents every time, and
 * the rest of guest RAM untouched. tests/support/qemu_guest.hpp repeats the
 * two constants.
 */
    .set GUEST_FIRST, 0x1000000   /* 16 MiB: above everything the BIOS uses */
    .set GUEST_PAGES, 8192        /* 32 MiB of 4 KiB pages */

    .code16
    .globl _start
_start:
    cli
    xor   %ax, %ax
    mov   %ax, %ds
    mov   %ax, %ss
    mov   $0x7c00, %sp
    in    $0x92, %al              /* fast A20 gate: addresses above 1 MiB */
    or    $2, %al
    and   $0xfe, %al              /* bit 0 would reset the machine */
    out   %al, $0x92
    lgdtl gdt_descriptor
    mov   %cr0, %eax
    or    $1, %eax                /* CR0.PE */
    mov   %eax, %cr0
    ljmpl $0x08, $protected_mode

    .code32
protected_mode:
    mov   $0x10, %ax
    mov   %ax, %ds
    mov   %ax, %es
    mov   %ax, %ss
    mov   $'L', %al               /* reached the loop: QemuVm waits for this on */
    out   %al, $0xe9              /* its debugcon (no device there: ignored) */
    xor   %edx, %edx              /* pass number: new contents every pass */
next_pass:
    inc   %edx
    mov   $GUEST_FIRST, %edi
    mov   $GUEST_PAGES, %ecx
next_page:
    mov   %edx, (%edi)
    add   $4096, %edi
    loop  next_page
    jmp   next_pass

    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff      /* 0x08: code, base 0, 4 GiB, 32-bit */
    .quad 0x00cf92000000ffff      /* 0x10: data, base 0, 4 GiB */
gdt_descriptor:
    .word gdt_descriptor - gdt - 1
    .long gdt

    .org  510
    .byte 0x55, 0xaa              /* the BIOS boots only a signed sector */
