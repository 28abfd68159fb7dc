using System.CommandLine;
using System.Net;
using PipelineServer.LoadTest.Cli;
using PipelineServer.LoadTest.Engine;
using PipelineServer.Protocols;

namespace PipelineServer.LoadTest.Scenarios;

/// <summary>
/// The base of a scenario: the protocol's codecs (the same ones servers use), a source of requests, and a byte-for-byte
/// verification of each response against its request.
/// </summary>
/// <typeparam name="TRequest">The request type.</typeparam>
/// <typeparam name="TResponse">
/// The response type, as the codec parses it: it may be a slice of the receive buffer, as it is verified before the
/// buffer moves on.
/// </typeparam>
internal abstract class LoadScenario<TRequest, TResponse> : ILoadScenario
{
    public abstract string Name { get; }

    public abstract string Description { get; }

    public abstract IReadOnlyList<string> ServerKinds { get; }

    public virtual IReadOnlyList<Option<string>> ExtraOptions => [];

    public abstract IMessageWriter<TRequest> Writer { get; }

    public abstract IMessageReader<TResponse> CreateReader(LoadOptions options);

    public abstract IRequestSource<TRequest, TResponse> CreateSource(LoadOptions options);

    public abstract Task<RunningServer> StartServerAsync(string kind, LoadOptions options, CancellationToken cancellationToken);

    public Task<LoadResult> RunAsync(EndPoint target, LoadOptions options, IProgressSink progress, Func<Task<ServerUsage>>? sampleServer, CancellationToken cancellationToken) =>
        LoadEngine.RunAsync(this, target, options, progress, sampleServer, cancellationToken);
}

/// <summary>Makes requests and checks responses. Called from many connections at once: keep it thread-safe and allocation-free.</summary>
internal interface IRequestSource<TRequest, TResponse>
{
    /// <summary>The request for a connection's <paramref name="sequence"/>th request, and its size on the wire.</summary>
    TRequest Next(int connection, long sequence, out int requestBytes);

    /// <summary>Checks a response against its request, byte for byte, while the response's buffers are valid.</summary>
    bool Verify(in TRequest request, in TResponse response, out int responseBytes);
}
