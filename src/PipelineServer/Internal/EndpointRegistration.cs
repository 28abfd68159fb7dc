using Microsoft.AspNetCore.Server.Kestrel.Core;
using PipelineServer.Hosting;

namespace PipelineServer.Internal;

// One endpoint added with PipelineServerBuilder.Listen or Endpoint; registered as a singleton so that several
// registrations add up.
internal sealed class EndpointRegistration(PipelineServerEndpoint endpoint, string? url, System.Net.EndPoint? endPoint, Action<ListenOptions> configure)
{
    public PipelineServerEndpoint Endpoint { get; } = endpoint;

    // Exactly one of Url and EndPoint is set, unless the URL comes from configuration (named endpoints).
    public string? Url { get; } = url;

    public System.Net.EndPoint? EndPoint { get; } = endPoint;

    public Action<ListenOptions> Configure { get; } = configure;
}
