namespace PipelineServer.Protocols;

/// <summary>
/// A message could not be written because the connection is closed: the peer went away, the connection was aborted,
/// or the writer was completed.
/// </summary>
public sealed class ConnectionClosedException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public ConnectionClosedException()
        : base("The connection is closed; nothing more can be written to it.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public ConnectionClosedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that closed the connection.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The error that closed the connection.</param>
    public ConnectionClosedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
