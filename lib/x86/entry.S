/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest entry code. 256 interrupt stubs, 16 bytes apart starting at
 * guest_idt_stubs, push an error code (a dummy 0 where the CPU pushes none)
 * and the vector, then share one path that saves the GPRs and the FPU/SSE
 * state (handlers are C and may use SSE) and calls guest_idt_dispatch().
 */
	.text

	.macro idt_stub vec
	.balign 16
	.if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp guest_idt_common
	.endm

	.balign 16
	.globl guest_idt_stubs
guest_idt_stubs:
	.altmacro
	.set vec, 0
	.rept 256
	idt_stub %vec
	.set vec, vec + 1
	.endr

guest_idt_common:
	pushq %r15
	pushq %r14
	pushq %r13
	pushq %r12
	pushq %r11
	pushq %r10
	pushq %r9
	pushq %r8
	pushq %rdi
	pushq %rsi
	pushq %rbp
	pushq %rbx
	pushq %rdx
	pushq %rcx
	pushq %rax
	/* The CPU aligned RSP to 16 before its frame: 22 qwords keep it so. */
	movq %rsp, %rbx
	subq $512, %rsp
	fxsave64 (%rsp)
	movq %rbx, %rdi
	call guest_idt_dispatch
	fxrstor64 (%rsp)
	movq %rbx, %rsp
	popq %rax
	popq %rcx
	popq %rdx
	popq %rbx
	popq %rbp
	popq %rsi
	popq %rdi
	popq %r8
	popq %r9
	popq %r10
	popq %r11
	popq %r12
	popq %r13
	popq %r14
	popq %r15
	addq $16, %rsp
	iretq

/* A guest function that returns lands here: realign and report DONE. */
	.globl guest_return_stub
guest_return_stub:
	andq $-16, %rsp
	call guest_returned
	ud2

	.section .note.GNU-stack,"",@progbits
