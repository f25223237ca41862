/* What the protocol server needs from a board: a byte link, an instruction counter, an exit.
 * One implementation per board family (board_cmsdk.c, board_virt.c). */
#ifndef HEITI_BOARD_H
#define HEITI_BOARD_H

#include <stdint.h>

void board_init(void);
/* 1 and the byte in *byte when one has arrived, else 0 (never blocks) */
int board_read(uint8_t *byte);
void board_write(const uint8_t *data, uint32_t count);
/* instructions executed since reset (QEMU -icount: exact or to the SysTick resolution) */
uint64_t board_instructions(void);
void board_exit(int code) __attribute__((noreturn));

#endif
