namespace Kiln.Profiles.Selectors;

/// <summary>
/// A query or matcher list that cannot be parsed. The message reads "bad selector at position N: …";
/// <see cref="Position"/> is that 0-based character offset into the text, for pointing at it in a UI.
/// </summary>
public sealed class SelectorParseException : FormatException
{
    public SelectorParseException()
    {
    }

    public SelectorParseException(string message)
        : base(message)
    {
    }

    public SelectorParseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a problem at <paramref name="position"/>, described by <paramref name="detail"/>.</summary>
    public SelectorParseException(int position, string detail, Exception? innerException = null)
        : base($"bad selector at position {position}: {detail}", innerException)
    {
        Position = position;
        Detail = detail;
    }

    /// <summary>0-based character offset of the problem in the parsed text.</summary>
    public int Position { get; }

    /// <summary>What is wrong, without the position prefix.</summary>
    public string Detail { get; } = "";
}
