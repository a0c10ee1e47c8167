// Spins in one known function; prints "PID ADDRESS" of that function so a test can symbolize it.
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int kiln_hot_function(int n)
{
    volatile int sum = 0;
    for (int i = 0; i < n; i++)
        sum += i;
    return sum;
}

int main(void)
{
    printf("%d %p\n", (int)getpid(), (void *)&kiln_hot_function);
    fflush(stdout);
    for (;;)
        kiln_hot_function(100000);
}
