/* A static-pie whose file is about PAD_BYTES long: one initialised array, which
 * ci/flights/libc/prepare fills with random bytes after linking. It prints the array's
 * FNV-1a checksum, so every byte of the module Xen loaded is read and compared with the
 * same program's output on the host. */
#include <stdint.h>
#include <stdio.h>

#ifndef PAD_BYTES
#define PAD_BYTES (1 << 20)
#endif

/* Its own section ("padding", not .data.*): the linker keeps it apart, so objcopy
 * --update-section can replace its bytes. */
__attribute__((section("padding"), aligned(4096))) unsigned char pad[PAD_BYTES] = {1};

int main(void)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof pad; i++) {
        h ^= pad[i];
        h *= 1099511628211ull;
    }
    printf("pad %zu bytes, fnv1a64 %016llx\n", sizeof pad, (unsigned long long)h);
    return 0;
}
