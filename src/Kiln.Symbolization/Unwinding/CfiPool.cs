using System.Buffers;

namespace Kiln.Symbolization.Unwinding;

/// <summary>
/// Scratch buffers for building unwind tables. Small ones are reused; large ones (a big binary's sections, FDE
/// lists and rows, megabytes each) are left to the GC. ArrayPool&lt;T&gt;.Shared would keep those for the agent's
/// whole life, although it builds each binary's table only once.
/// </summary>
internal static class CfiPool<T>
{
    public static readonly ArrayPool<T> Shared = ArrayPool<T>.Create(maxArrayLength: 64 * 1024, maxArraysPerBucket: 4);
}
