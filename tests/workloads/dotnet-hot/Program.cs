// Prints its pid, then spends its time in KilnWorkload.HotLoop.Spin for the given number of seconds.
using System.Diagnostics;
using System.Globalization;
using KilnWorkload;

Console.WriteLine(Environment.ProcessId);
Console.Out.Flush();
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var clock = Stopwatch.StartNew();
long total = 0;
while (clock.Elapsed.TotalSeconds < seconds)
{
    total += HotLoop.Spin(200_000);
}
return total == 42 ? 1 : 0;

namespace KilnWorkload
{
    /// <summary>The method the test expects to see by name in the profile.</summary>
    public static class HotLoop
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        public static long Spin(int iterations)
        {
            long sum = 0;
            for (var i = 0; i < iterations; i++)
            {
                sum += i ^ (sum >> 3);
            }
            return sum;
        }
    }
}
