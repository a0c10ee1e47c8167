namespace Kiln.Profiles;

/// <summary>
/// Thrown when bytes are not a valid pprof profile. The message names the field, the offending index or
/// value, and what a valid profile would have there, so it can be returned to the sender as is.
/// </summary>
public sealed class PprofFormatException : FormatException
{
    public PprofFormatException()
    {
    }

    public PprofFormatException(string message)
        : base(message)
    {
    }

    public PprofFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
