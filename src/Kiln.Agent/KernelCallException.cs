using Kiln.Agent.Interop;

namespace Kiln.Agent;

/// <summary>
/// A call into the kernel (bpf(2), perf_event_open(2)) or libbpf failed. The message names the
/// operation, the errno and what to do about it.
/// </summary>
public sealed class KernelCallException : Exception
{
    internal KernelCallException(string operation, int errno, string? fix, string? detail)
        : base(Format(operation, errno, fix, detail))
    {
        Operation = operation;
        ErrorNumber = errno;
    }

    /// <summary>The failed call with its arguments, e.g. <c>perf_event_open(cpu=3)</c>.</summary>
    public string Operation { get; }

    /// <summary>The errno the kernel or libbpf reported.</summary>
    public int ErrorNumber { get; }

    private static string Format(string operation, int errno, string? fix, string? detail)
    {
        var message = $"{operation} failed: {Errno.Name(errno)} ({Marshal.GetPInvokeErrorMessage(errno)})";
        if (fix is not null)
            message += " — " + fix;
        if (!string.IsNullOrWhiteSpace(detail))
            message += Environment.NewLine + detail;
        return message;
    }
}
