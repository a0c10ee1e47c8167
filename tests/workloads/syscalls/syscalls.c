// Syscall-heavy workload: reads /dev/zero in 1 MiB chunks with a raw `syscall` instruction, so most of its CPU is
// kernel time (clearing the user buffer) under main → read_zeroes → raw_read. The raw syscall keeps libc (built
// without frame pointers) out of the stack. Build like cpusplit.c; usage: syscalls SECONDS.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buffer[1 << 20];

__attribute__((noinline)) long raw_read(int fd, void *buf, unsigned long count)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(0L), "D"((long)fd), "S"(buf), "d"(count) : "rcx", "r11", "memory");
    return ret;
}

__attribute__((noinline)) long read_zeroes(int fd)
{
    return raw_read(fd, buffer, sizeof buffer);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
    {
        perror("open /dev/zero");
        return 1;
    }
    printf("%d\n", getpid());
    fflush(stdout);
    double end = now() + (argc > 1 ? atof(argv[1]) : 10);
    while (now() < end)
        for (int i = 0; i < 16; i++)
            if (read_zeroes(fd) <= 0)
                return 1;
    return 0;
}
