/* getrandom with and without flags, a bad flag, and AT_RANDOM, printed in hex. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/random.h>

static void hex(const char *what, const unsigned char *b, size_t n)
{
    printf("%s ", what);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

int main(void)
{
    unsigned char a[32], b[32];
    if (getrandom(a, sizeof a, 0) != (ssize_t)sizeof a ||
        getrandom(b, sizeof b, GRND_NONBLOCK | GRND_RANDOM) != (ssize_t)sizeof b) {
        perror("getrandom");
        return 1;
    }
    errno = 0;
    long bad = getrandom(b, sizeof b, 0x80);
    printf("bad flag: %s\n", bad == -1 && errno == EINVAL ? "EINVAL" : "accepted");
    printf("two calls differ: %s\n", memcmp(a, b, sizeof a) ? "yes" : "no");
    hex("getrandom", a, sizeof a);
    const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);
    if (at)
        hex("AT_RANDOM", at, 16);
    return 0;
}
