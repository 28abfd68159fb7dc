using System.Net;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Client;
using PipelineServer.Protocols;

namespace PipelineServer.Resp;

/// <summary>
/// RESP on the PipelineServer client: a <see cref="ProtocolClient{TRequest, TResponse}"/> in ordered mode (replies come
/// back in request order, as Redis sends them) whose replies are <see cref="RespValue"/>s copied out of the receive
/// buffer, and whose RESP3 pushes (<c>&gt;</c>: pub/sub messages, invalidations) arrive on
/// <see cref="ProtocolClient{TRequest, TResponse}.ReadPushesAsync"/> instead of answering a request.
/// </summary>
public static class RespClient
{
    /// <summary>Connects to a RESP server.</summary>
    /// <param name="factory">The connection factory (<c>new ClientBuilder().UseSockets().Build()</c>).</param>
    /// <param name="endPoint">The server.</param>
    /// <param name="limits">Limits on replies; <see cref="RespLimits.Default"/> when <see langword="null"/>.</param>
    /// <param name="configure">Further client options (timeouts, continuations).</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    /// <returns>The client. Send <c>HELLO 3</c> to switch the connection to RESP3.</returns>
    public static ValueTask<ProtocolClient<RespRequest, RespValue>> ConnectAsync(
        IConnectionFactory factory,
        EndPoint endPoint,
        RespLimits? limits = null,
        Action<ProtocolClientOptions<RespRequest, RespValue>>? configure = null,
        CancellationToken cancellationToken = default)
    {
        var reader = new RespValueReader(limits);
        var options = new ProtocolClientOptions<RespRequest, RespValue>
        {
            IsPush = static value => value.Type == RespType.Push,
            MaxResponseSize = (int)Math.Min(int.MaxValue, (limits ?? RespLimits.Default).MaxBulkLength + 64 * 1024),
        };
        configure?.Invoke(options);
        return ProtocolClient.ConnectAsync(factory, endPoint, reader.Select(static value => value.ToOwned()), RespRequest.Writer.Instance, options, cancellationToken);
    }
}
