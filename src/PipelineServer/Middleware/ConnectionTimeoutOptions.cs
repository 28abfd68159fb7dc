namespace PipelineServer;

/// <summary>
/// Timeouts for connections that hold resources without making progress. Kestrel applies none to non-HTTP
/// connections. Each is off when <see langword="null"/>; a connection that runs out of one is closed, with its reason
/// logged and counted.
/// </summary>
public sealed class ConnectionTimeoutOptions
{
    /// <summary>
    /// Closes a connection on which nothing has been received for this long while the server waits for the next message.
    /// Time the server spends handling messages does not count.
    /// </summary>
    public TimeSpan? IdleTimeout { get; set; }

    /// <summary>Closes a connection that has not sent one complete message this long after it opened.</summary>
    public TimeSpan? FirstMessageTimeout { get; set; }

    /// <summary>
    /// Closes a connection that started a message and has not completed it this long after (the slowloris defence: a
    /// peer trickling a message byte by byte cannot hold the connection open by staying just short of the idle timeout).
    /// </summary>
    public TimeSpan? SlowMessageTimeout { get; set; }

    /// <summary>
    /// Closes a connection whose peer has stopped taking what the server sends: a flush has waited this long for room
    /// in the transport's output buffer (the slow-reader defence: a peer that sends requests and never reads the
    /// responses otherwise holds the connection, its buffers and its handler forever).
    /// </summary>
    public TimeSpan? WriteTimeout { get; set; }

    /// <summary>
    /// The clock; tests substitute a fake one. When <see langword="null"/> (the default), the application services'
    /// <see cref="System.TimeProvider"/>, or the system clock when they have none.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }
}
