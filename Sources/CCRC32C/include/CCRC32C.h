#ifndef C_CRC32C_H
#define C_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Continues the raw CRC-32C register `crc` over `count` bytes at `bytes` with the CPU's CRC32 instruction
/// (SSE 4.2 on x86-64). No pre- or post-inversion: the caller does those. Call only when
/// `crc32c_hardware_available()` is true.
uint32_t crc32c_hardware_update(uint32_t crc, const uint8_t *bytes, size_t count);

/// Whether this CPU has the instruction `crc32c_hardware_update` uses.
int crc32c_hardware_available(void);

#endif
