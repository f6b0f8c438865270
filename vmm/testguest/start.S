/* SPDX-License-Identifier: MIT */
/*
 * Test guest entry and interrupt stubs. The VMM enters at 1 MiB in
 * 64-bit mode with RDI pointing at the boot-info page; this sets a stack
 * and calls tg_main(). Every IDT vector gets a 16-byte stub. Exceptions
 * push a dummy error code (where the CPU pushes none) and their number,
 * then call tg_isr(vector, frame) with frame = {vector, error, rip, cs,
 * ...}. Under PVM every instruction of guest ring 0 is emulated, so the
 * two paths that run thousands of times a second are kept to a few
 * instructions: interrupts (vector >= 32: count, EOI, return) and the
 * idle service call from ring 3 (ud2 with TG_SYS_IDLE: sti; hlt).
 */
	.section .text.start, "ax"
	.globl _start
	.code64
_start:
	cli
	lea	stack_top(%rip), %rsp
	xor	%rbp, %rbp
	xor	%esi, %esi		/* no PVH start info */
	call	tg_main
1:	cli
	hlt
	jmp	1b

	.text
isr_common:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%rbx
	mov	80(%rsp), %rdi
	lea	80(%rsp), %rsi
	mov	%rsp, %rbx
	and	$-16, %rsp
	call	tg_isr
	mov	%rbx, %rsp
	pop	%rbx
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$16, %rsp
	iretq

/* Interrupts: tg_irq_counts[vector]++, EOI; RAX (the vector) pushed.
   The EOI is KVM's paravirtual one when KVM offered it (tg_pv_eoi bit 0
   set: clearing it is the EOI), else the LAPIC register. */
irq_fast:
	push	%rcx
	lea	tg_irq_counts(%rip), %rcx
	incq	(%rcx,%rax,8)
	btrl	$0, tg_pv_eoi(%rip)
	jc	1f
	mov	$0xfee000b0, %eax	/* LAPIC EOI */
	movl	$0, (%rax)
1:	pop	%rcx
	pop	%rax
	iretq

/* #UD: the idle call from ring 3 (ud2, RDI = TG_SYS_IDLE) waits here for
   the next interrupt; every other #UD takes the full path. */
ud_entry:
	cmp	$4, %rdi		/* TG_SYS_IDLE */
	jne	1f
	testb	$3, 8(%rsp)		/* from ring 3 */
	jz	1f
	push	%rax
	mov	8(%rsp), %rax		/* the faulting RIP */
	cmpw	$0x0b0f, (%rax)		/* ud2 */
	pop	%rax
	jne	1f
	addq	$2, (%rsp)
	sti
	hlt
	cli
	xor	%eax, %eax
	iretq
1:	push	$0
	push	$6
	jmp	isr_common

	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if vec >= 32
	push	%rax
	mov	$vec, %eax
	jmp	irq_fast
	.elseif vec == 6
	jmp	ud_entry
	.else
	.if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	push	$0
	.endif
	push	$vec
	jmp	isr_common
	.endif
	.set vec, vec + 1
	.endr

	.bss
	.balign 16
	.space	65536
stack_top:

/* void tg_enter_user(void (*fn)(void), uint64_t user_rsp): never returns. */
	.text
	.globl tg_enter_user
tg_enter_user:
	mov	$0x1b, %rax
	mov	%ax, %ds
	mov	%ax, %es
	push	$0x1b			/* SS: user data, RPL 3 */
	push	%rsi			/* RSP */
	push	$0x3202			/* RFLAGS: IF, IOPL 3 */
	push	$0x23			/* CS: user code, RPL 3 */
	push	%rdi			/* RIP */
	iretq

/* Loads the guest's own GDT and TSS (tg_gdt_load in irq.c). */
	.globl tg_gdt_reload
tg_gdt_reload:
	lgdt	(%rdi)
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	xor	%ax, %ax
	mov	%ax, %fs
	mov	%ax, %gs
	pushq	$0x08
	lea	1f(%rip), %rax
	push	%rax
	lretq
1:	mov	$0x28, %ax
	ltr	%ax
	ret

/*
 * PVH entry (Xen's HVM direct boot, which QEMU's -kernel uses): 32-bit
 * protected mode, paging off, EBX = hvm_start_info. Builds the same
 * identity map the VMM's loader builds (page tables at 0x1000-0x6fff),
 * enters long mode and calls tg_main(NULL, start_info).
 */
	.section .note.Xen, "a"
	.balign 4
	.long	4			/* name size */
	.long	4			/* desc size */
	.long	18			/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.long	pvh_start

	.section .text.start, "ax"
	.code32
pvh_start:
	cli
	mov	%ebx, %esi
	/* zero 0x1000-0x6fff */
	mov	$0x1000, %edi
	xor	%eax, %eax
	mov	$(0x6000 / 4), %ecx
	rep stosl
	movl	$0x2007, 0x1000		/* PML4[0] -> PDPT */
	movl	$0x3007, 0x2000		/* PDPT[0..3] -> PDs */
	movl	$0x4007, 0x2008
	movl	$0x5007, 0x2010
	movl	$0x6007, 0x2018
	mov	$0x3000, %edi
	mov	$0x87, %eax		/* present, writable, user, 2 MiB */
	mov	$2048, %ecx
1:	mov	%eax, (%edi)
	add	$0x200000, %eax
	add	$8, %edi
	loop	1b
	lgdt	pvh_gdtr
	mov	%cr4, %eax
	or	$0x620, %eax		/* PAE, OSFXSR, OSXMMEXCPT */
	mov	%eax, %cr4
	mov	$0x1000, %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx
	rdmsr
	or	$0x100, %eax		/* EFER.LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000001, %eax	/* PG, PE */
	mov	%eax, %cr0
	ljmp	$0x08, $pvh_64

	.code64
pvh_64:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	lea	stack_top(%rip), %rsp
	xor	%edi, %edi
	call	tg_main
2:	cli
	hlt
	jmp	2b

	.data
	.balign 16
pvh_gdt:
	.quad	0
	.quad	0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf93000000ffff	/* 0x10: data */
pvh_gdtr:
	.word	pvh_gdtr - pvh_gdt - 1
	.long	pvh_gdt
