/* SPDX-License-Identifier: MIT */
/*
 * Test guest entry and interrupt stubs. The VMM enters at 1 MiB in
 * 64-bit mode with RDI pointing at the boot-info page; this sets a stack
 * and calls tg_main(). Every IDT vector gets a 16-byte stub that pushes
 * a dummy error code (where the CPU pushes none) and its number, then
 * calls tg_isr(vector, frame) with frame = {vector, error, rip, cs, ...}.
 */
	.section .text.start, "ax"
	.globl _start
	.code64
_start:
	cli
	lea	stack_top(%rip), %rsp
	xor	%rbp, %rbp
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

	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	push	$0
	.endif
	push	$vec
	jmp	isr_common
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
