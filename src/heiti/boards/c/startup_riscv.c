/* RISC-V (machine mode) reset and trap handling: stack and global pointer, .data/.bss
 * set-up, traps reported to the host before exiting with status 1. */
#include <stdint.h>

#include "fault.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);
void trap_entry(void);

void c_start(void)
{
    uint32_t *src = &__data_load, *dst;
    for (dst = &__data_start; dst < &__data_end;)
        *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;)
        *dst++ = 0;
    __asm__ volatile("csrw mtvec, %0" : : "r"(trap_entry));
    main();
    fw_fault("main returned", 0, 0, 0);
}

__attribute__((naked, section(".text.start"))) void _start(void)
{
    __asm__ volatile(
        ".option push\n.option norelax\n"
        "la gp, __global_pointer$\n"
        ".option pop\n"
        "la sp, __stack_top\n"
        "j c_start\n");
}

void trap_report(void)
{
    static const char *const names[] = {"mcause", "mepc", "mtval"};
    uint32_t values[3];
    __asm__ volatile("csrr %0, mcause" : "=r"(values[0]));
    __asm__ volatile("csrr %0, mepc" : "=r"(values[1]));
    __asm__ volatile("csrr %0, mtval" : "=r"(values[2]));
    fw_fault("trap", 3, names, values);
}

/* mtvec needs 4-byte alignment; the trap never returns, so no registers are saved */
__attribute__((naked, aligned(4))) void trap_entry(void)
{
    __asm__ volatile("j trap_report\n");
}
