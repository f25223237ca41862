/* ARM MPS2 boards (QEMU mps2-an386, mps2-an500): CMSDK APB UART, SysTick, semihosting exit. */
#include "board.h"
#include "fw_config.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define UART_DATA REG(FW_UART_BASE + 0x00)
#define UART_STATE REG(FW_UART_BASE + 0x04)   /* bit 0: TX full, bit 1: RX full */
#define UART_CTRL REG(FW_UART_BASE + 0x08)    /* bit 0: TX enable, bit 1: RX enable */
#define UART_BAUDDIV REG(FW_UART_BASE + 0x10)
#define SYST_CSR REG(0xE000E010)
#define SYST_RVR REG(0xE000E014)
#define SYST_CVR REG(0xE000E018)
#define SYST_MASK 0xFFFFFFu

static uint32_t last_tick;
static uint64_t ticks;

void board_init(void)
{
    UART_BAUDDIV = 16;
    UART_CTRL = 3;
    SYST_RVR = SYST_MASK;
    SYST_CVR = 0;
    SYST_CSR = 5;  /* enable, processor clock, no interrupt */
    last_tick = SYST_CVR;
}

int board_read(uint8_t *byte)
{
    if (!(UART_STATE & 2u))
        return 0;
    *byte = (uint8_t)UART_DATA;
    return 1;
}

void board_write(const uint8_t *data, uint32_t count)
{
    while (count--) {
        while (UART_STATE & 1u)
            ;
        UART_DATA = *data++;
    }
}

/* SysTick counts down 24 bits at the CPU clock; under -icount shift=0 one instruction takes
 * 1 ns of virtual time, so a tick is FW_TICK_INSTRUCTIONS instructions. Polled often enough
 * (every wait loop calls it) that the counter never wraps twice between calls. */
uint64_t board_instructions(void)
{
    const uint32_t now = SYST_CVR;
    ticks += (last_tick - now) & SYST_MASK;
    last_tick = now;
    return ticks * FW_TICK_INSTRUCTIONS;
}

void board_exit(int code)
{
    /* semihosting SYS_EXIT: ADP_Stopped_ApplicationExit is success, anything else failure */
    register uint32_t r0 __asm__("r0") = 0x18;
    register uint32_t r1 __asm__("r1") = code == 0 ? 0x20026u : 0x20024u;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;)
        ;
}
