/* QEMU riscv32 'virt': 16550 UART, minstret, exit through the SiFive test device. */
#include "board.h"
#include "fw_config.h"

#define UART8(off) (*(volatile uint8_t *)(FW_UART_BASE + (off)))
#define UART_RBR UART8(0)
#define UART_THR UART8(0)
#define UART_LSR UART8(5)  /* bit 0: data ready, bit 5: transmitter holding register empty */
#define TEST_DEVICE (*(volatile uint32_t *)0x100000u)

void board_init(void)
{
}

int board_read(uint8_t *byte)
{
    if (!(UART_LSR & 1u))
        return 0;
    *byte = UART_RBR;
    return 1;
}

void board_write(const uint8_t *data, uint32_t count)
{
    while (count--) {
        while (!(UART_LSR & 0x20u))
            ;
        UART_THR = *data++;
    }
}

uint64_t board_instructions(void)
{
    uint32_t hi, lo, again;
    do {
        __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
        __asm__ volatile("csrr %0, minstret" : "=r"(lo));
        __asm__ volatile("csrr %0, minstreth" : "=r"(again));
    } while (hi != again);
    return ((uint64_t)hi << 32) | lo;
}

void board_exit(int code)
{
    TEST_DEVICE = code == 0 ? 0x5555u : (((uint32_t)code << 16) | 0x3333u);
    for (;;)
        ;
}
