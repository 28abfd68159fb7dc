namespace PipelineServer.Resp;

/// <summary>
/// Thrown by a command handler to answer with an error reply (the message, which by convention starts with an error
/// code: <c>ERR</c>, <c>WRONGTYPE</c>, ...). The connection carries on; any other exception closes it.
/// </summary>
public sealed class RespException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The error reply, for example <c>ERR value is not an integer or out of range</c>.</param>
    public RespException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RespException()
        : base("ERR")
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The error reply.</param>
    /// <param name="innerException">The cause.</param>
    public RespException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
