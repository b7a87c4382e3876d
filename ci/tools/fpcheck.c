/*
 * fpcheck: does the platform keep a process's vector registers across vCPU switches?
 *
 * Run in dom0 with several copies on vCPUs that share one physical CPU. Each copy keeps
 * values live in ymm/xmm registers through long loops and checks the results, and checks
 * glibc's vectorised memcpy/memset/memcmp, until the time is up. Prints one line:
 *   fpcheck ID: rounds R corrupt C
 * and exits 1 if any check failed.
 *
 * Why it exists: with Xen's lazy FPU switching (its default on AMD CPUs, and QEMU's
 * `-cpu max` reports AMD) the testbed corrupted dom0 processes' vector state under TCG,
 * which showed up as random crashes of bash and xl. scripts/testbed boots Xen with
 * spec-ctrl=eager-fpu; this check keeps that fix honest.
 *
 * usage: fpcheck ID SECONDS      (built with -O2 -mavx2 -static by ci/flight)
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Adds 1 to four 64-bit lanes N times, keeping the vector in a register. */
static long long ymm_count(long long start, int n)
{
    __m256i x = _mm256_set1_epi64x(start);
    const __m256i one = _mm256_set1_epi64x(1);
    long long lanes[4];

    for (int k = 0; k < n; k++) {
        x = _mm256_add_epi64(x, one);
        __asm__ volatile("" : "+x"(x));
    }
    _mm256_storeu_si256((__m256i *)lanes, x);
    for (int j = 1; j < 4; j++)
        if (lanes[j] != lanes[0])
            return -1;
    return lanes[0];
}

/* The same with 32-bit lanes in an xmm register (legacy SSE encoding when built so). */
static int xmm_count(int start, int n)
{
    __m128i x = _mm_set1_epi32(start);
    const __m128i one = _mm_set1_epi32(1);
    int lanes[4];

    for (int k = 0; k < n; k++) {
        x = _mm_add_epi32(x, one);
        __asm__ volatile("" : "+x"(x));
    }
    _mm_storeu_si128((__m128i *)lanes, x);
    for (int j = 1; j < 4; j++)
        if (lanes[j] != lanes[0])
            return -1;
    return lanes[0];
}

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[1]) <= 0 || atof(argv[2]) <= 0) {
        fprintf(stderr, "usage: fpcheck ID SECONDS (ID > 0, SECONDS > 0)\n");
        return 2;
    }
    const int id = atoi(argv[1]);
    const double secs = atof(argv[2]);
    const size_t n = 1 << 20;
    unsigned char *a = malloc(n), *b = malloc(n);
    long rounds = 0, corrupt = 0;

    if (!a || !b) {
        fprintf(stderr, "fpcheck %d: out of memory\n", id);
        return 2;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = (unsigned char)(i * 7 + (size_t)id);

    const double t0 = now();
    while (now() - t0 < secs) {
        const long long base = (long long)id * 1000000 + rounds;
        if (ymm_count(base, 200000) != base + 200000)
            corrupt++;
        if (xmm_count(id, 100000) != id + 100000)
            corrupt++;
        memcpy(b, a, n);
        if (memcmp(a, b, n) != 0)
            corrupt++;
        memset(b, 0, n);
        memcpy(b + 1, a, n - 1);
        if (memcmp(a, b + 1, n - 1) != 0 || b[0] != 0)
            corrupt++;
        rounds++;
    }
    printf("fpcheck %d: rounds %ld corrupt %ld\n", id, rounds, corrupt);
    return corrupt != 0;
}
