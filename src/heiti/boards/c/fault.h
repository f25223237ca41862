/* Reporting a fatal fault: an ERROR frame (INTERNAL) naming the fault and its registers goes
 * to the host, then the board exits with status 1. */
#ifndef HEITI_FAULT_H
#define HEITI_FAULT_H

#include <stdint.h>

void fw_fault(const char *what, int count, const char *const names[], const uint32_t values[])
    __attribute__((noreturn));

#endif
