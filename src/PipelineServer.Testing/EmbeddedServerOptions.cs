using System.Buffers;
using Microsoft.Extensions.Logging;

namespace PipelineServer.Testing;

/// <summary>Options for an <see cref="EmbeddedServer"/>.</summary>
public sealed class EmbeddedServerOptions
{
    /// <summary>
    /// The application services the connection pipeline is built with. When <see langword="null"/>, the server makes
    /// a small container holding <see cref="TimeProvider"/> and <see cref="LoggerFactory"/>.
    /// </summary>
    public IServiceProvider? Services { get; set; }

    /// <summary>
    /// The clock registered as <see cref="System.TimeProvider"/> when the server makes its own services; pass a fake
    /// one (for example <c>FakeTimeProvider</c>) to drive timeouts from the test. Defaults to the system clock.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>The logger factory registered when the server makes its own services. Defaults to no logging.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>The pool for the connections' pipe buffers, for example a <see cref="TestMemoryPool"/> to catch leaks.</summary>
    public MemoryPool<byte>? MemoryPool { get; set; }

    /// <summary>
    /// How long a receive waits, in real time, before failing with <see cref="TimeoutException"/>, so that a broken
    /// test fails instead of hanging. Defaults to 10 seconds.
    /// </summary>
    public TimeSpan ReceiveTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
