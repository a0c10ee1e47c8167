using System.Runtime.CompilerServices;
using System.Text;

namespace Kiln.Agent.Interop;

/// <summary>
/// Routes libbpf's log lines (warnings, and the verifier's log when a program is rejected) to
/// whichever thread asked for them with <see cref="Capture"/>; everything else is dropped, so the
/// agent never writes to stderr behind its host's back.
/// </summary>
internal static class LibbpfLog
{
    private const int MaxCapturedChars = 64 * 1024;

    [ThreadStatic]
    private static StringBuilder? s_capture;

    private static int s_installed;

    /// <summary>Collects libbpf's warnings on this thread until the returned scope is disposed.</summary>
    internal static Scope Capture()
    {
        Install();
        var previous = s_capture;
        s_capture = new StringBuilder();
        return new Scope(previous, s_capture);
    }

    private static unsafe void Install()
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 0)
            Libbpf.LibbpfSetPrint(&Print);
    }

    [UnmanagedCallersOnly]
    private static unsafe int Print(int level, byte* format, nint args)
    {
        var capture = s_capture;
        if (capture is null || level == Libbpf.PrintDebug || capture.Length > MaxCapturedChars)
            return 0;
        const int bufferSize = 1024;
        var buffer = stackalloc byte[bufferSize];
        var written = Libc.Vsnprintf(buffer, bufferSize, format, args);
        if (written > 0)
            capture.Append(Encoding.UTF8.GetString(buffer, Math.Min(written, bufferSize - 1)));
        return 0;
    }

    internal readonly struct Scope(StringBuilder? previous, StringBuilder mine) : IDisposable
    {
        /// <summary>The last <paramref name="lines"/> lines logged so far (the verifier's verdict is at the end).</summary>
        internal string Tail(int lines = 40)
        {
            var all = mine.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return string.Join(Environment.NewLine, all.Skip(Math.Max(0, all.Length - lines)));
        }

        public void Dispose() => s_capture = previous;
    }
}
