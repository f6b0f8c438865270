/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli), the checksum on every piece of on-disk metadata.
 * Uses the SSE4.2 instruction when the CPU has it, a table otherwise.
 *
 * crc32c(0, buf, len) gives the standard value (0xe3069283 for
 * "123456789"); pass a previous result as 'crc' to continue a running sum.
 */
#ifndef COMMON_CRC32C_H
#define COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
