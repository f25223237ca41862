/* Cortex-M reset and fault handling: vector table, .data/.bss set-up, faults reported to
 * the host (an ERROR frame with the fault registers) before exiting with status 1. */
#include <stdint.h>

#include "fault.h"

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);

void Reset_Handler(void)
{
    uint32_t *src = &__data_load, *dst;
    for (dst = &__data_start; dst < &__data_end;)
        *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end;)
        *dst++ = 0;
    main();
    fw_fault("main returned", 0, 0, 0);
}

/* called with the exception stack frame: r0 r1 r2 r3 r12 lr pc xpsr */
void fault_report(const uint32_t *frame)
{
    static const char *const names[] = {"pc", "lr", "xpsr", "cfsr", "hfsr", "mmfar", "bfar"};
    uint32_t values[7];
    values[0] = frame[6];
    values[1] = frame[5];
    values[2] = frame[7];
    values[3] = *(volatile uint32_t *)0xE000ED28u;
    values[4] = *(volatile uint32_t *)0xE000ED2Cu;
    values[5] = *(volatile uint32_t *)0xE000ED34u;
    values[6] = *(volatile uint32_t *)0xE000ED38u;
    fw_fault("hard fault", 7, names, values);
}

__attribute__((naked)) void Fault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "b fault_report\n");
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler,
    Fault_Handler,
};
