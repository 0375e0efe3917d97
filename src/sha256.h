/* sha256.h - SHA-256 in pieces (sha256.c). Private to the library. */
#ifndef GGPACK_SHA256_H
#define GGPACK_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_add(struct sha256 *s, const void *data, size_t n);
/* The digest as 64 hex digits; s is spent. */
void sha256_hex(struct sha256 *s, char out[65]);
/* 1: the portable code even where the CPU has SHA extensions (for tests). */
void sha256_portable(int on);
/* Whether this CPU takes the SHA-extensions path. */
int sha256_accelerated(void);

#endif
