namespace Kiln.Cli.Commands;

/// <summary>Exit codes of every kiln command.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The server answered with an error, or could not be reached.</summary>
    public const int Failed = 1;

    /// <summary>The command line or a file named on it is wrong.</summary>
    public const int Usage = 2;
}
