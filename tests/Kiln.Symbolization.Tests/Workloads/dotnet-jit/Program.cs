// A .NET process started without perf-map settings. It prints its pid, waits for a line on stdin (sent after the
// test enabled the perf map), then JIT-compiles and runs KilnWorkload.Hot.Spin forever.
using System.Runtime.CompilerServices;

Console.WriteLine(Environment.ProcessId);
Console.Out.Flush();
Console.ReadLine();
var total = 0L;
while (true)
    total += KilnWorkload.Hot.Spin(100_000);

namespace KilnWorkload
{
    public static class Hot
    {
        [MethodImpl(MethodImplOptions.NoInlining)]
        public static long Spin(int n)
        {
            long sum = 0;
            for (var i = 0; i < n; i++)
                sum += i ^ (sum >> 3);
            return sum;
        }
    }
}
