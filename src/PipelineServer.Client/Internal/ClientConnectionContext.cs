using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace PipelineServer.Client.Internal;

// The connection handed to the caller when middleware ran: everything is the middleware-shaped connection's, except
// disposal, which first lets the middleware unwind.
internal sealed class ClientConnectionContext(ConnectionContext inner, ClientSession session) : ConnectionContext
{
    public override string ConnectionId
    {
        get => inner.ConnectionId;
        set => inner.ConnectionId = value;
    }

    public override IFeatureCollection Features => inner.Features;

    public override IDictionary<object, object?> Items
    {
        get => inner.Items;
        set => inner.Items = value;
    }

    public override IDuplexPipe Transport
    {
        get => inner.Transport;
        set => inner.Transport = value;
    }

    public override EndPoint? LocalEndPoint
    {
        get => inner.LocalEndPoint;
        set => inner.LocalEndPoint = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => inner.RemoteEndPoint;
        set => inner.RemoteEndPoint = value;
    }

    public override CancellationToken ConnectionClosed
    {
        get => session.Raw.ConnectionClosed;
        set => throw new NotSupportedException();
    }

    public override void Abort(ConnectionAbortedException abortReason) => session.Raw.Abort(abortReason);

    public override void Abort() => session.Raw.Abort(new ConnectionAbortedException("The connection was aborted by the application."));

    public override ValueTask DisposeAsync() => session.DisposeAsync();
}
