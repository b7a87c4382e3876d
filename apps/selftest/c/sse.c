/* SSE code compiled by gcc (-msse2), called from every test thread: gcc keeps 16-byte
 * vector locals on the stack with movapd/movaps, which fault (#GP) on a stack that breaks
 * the psABI rule (%rsp + 8) % 16 == 0 at function entry (rumprun-xen #18). Integers
 * cross the boundary: the Rust side is soft-float. */
typedef double v2df __attribute__((vector_size(16)));

long ferrun_c_sse_probe(long x)
{
    volatile v2df buf[2];
    buf[0] = (v2df){ (double)x, (double)x * 2.0 };
    buf[1] = buf[0] * (v2df){ 3.0, 4.0 };
    v2df r = buf[1];
    return (long)(r[0] + r[1]); /* 3x + 8x */
}
