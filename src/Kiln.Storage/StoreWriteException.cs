namespace Kiln.Storage;

/// <summary>The store could not make a write durable; nothing of that write was stored.</summary>
public sealed class StoreWriteException : Exception
{
    public StoreWriteException(string message, Exception inner) : base(message, inner)
    {
    }

    public StoreWriteException()
    {
    }

    public StoreWriteException(string message) : base(message)
    {
    }
}
