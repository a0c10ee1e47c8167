// CPU workload for stack unwinding: two chains from main, main → top → mid → leaf_two_thirds (about 2/3 of its
// CPU) and main → top → mid → leaf_one_third (about 1/3). The tests build it twice from this source:
//   gcc-12 -O2 -fomit-frame-pointer -fno-optimize-sibling-calls -o chainsplit-gcc chainsplit.c
//   clang-14 -O2 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-optimize-sibling-calls -o chainsplit-clang chainsplit.c
// The clang build has exact frame pointers (the reference); the gcc build has none, so only .eh_frame can unwind
// it. `objdump -d chainsplit-gcc` shows, for gcc 12.2 on Debian 12:
//   leaf_two_thirds, leaf_one_third: no prologue at all (the return address stays at the stack pointer);
//   mid:  push %rbp; push %rbx; sub $0x8,%rsp — %rbp then holds leaf_two_thirds' result, not a frame address;
//   top:  push %r14; push %r13; push %r12; push %rbp; push %rbx; sub $0x220,%rsp — %rbp is the loop counter;
//   main: push %rbp; push %rbx; sub $0x8,%rsp — %rbp holds argv.
// No function sets up a frame (`mov %rsp,%rbp`), and every call is a real `call` with code after it, so the
// chains exist at run time in both builds.
// Usage: chainsplit SECONDS — prints its pid, then burns one core for SECONDS.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

// noipa also stops gcc from cloning (mid.constprop.0) or merging functions; clang-14 does not know it.
#if defined(__clang__)
#define KEEP __attribute__((noinline))
#else
#define KEEP __attribute__((noipa))
#endif

static volatile unsigned long sink;

// Both loops do the same work per iteration; leaf_two_thirds runs twice as many iterations.
KEEP unsigned long leaf_two_thirds(unsigned long n)
{
    unsigned long x = 17;
    for (unsigned long i = 0; i < n; i++)
        x = (x * 2862933555777941757UL + i) ^ (x >> 29);
    return x;
}

KEEP unsigned long leaf_one_third(unsigned long n)
{
    unsigned long x = 31;
    for (unsigned long i = 0; i < n; i++)
        x = (x * 3202034522624059733UL + i) ^ (x >> 27);
    return x;
}

// n and the first result stay live across the calls, so gcc saves callee-saved registers in the prologue. The
// store to sink makes mid impure: otherwise clang proves it has no side effects and calls it once, not per round.
KEEP unsigned long mid(unsigned long n)
{
    unsigned long a = leaf_two_thirds(2 * n);
    unsigned long b = leaf_one_third(n);
    sink += a;
    return b + n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

// A buffer on the stack gives top a frame of its own size (sub $…,%rsp) between mid's and main's.
KEEP void top(double seconds)
{
    volatile unsigned long results[64];
    double end = now() + seconds;
    unsigned long rounds = 0;
    while (now() < end)
        for (int i = 0; i < 100; i++)
            results[rounds++ & 63] = mid(20000);
    sink += results[rounds & 63];
}

int main(int argc, char **argv)
{
    printf("%d\n", getpid());
    fflush(stdout);
    top(argc > 1 ? atof(argv[1]) : 10);
    return 0;
}
