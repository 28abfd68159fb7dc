using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using PipelineServer.Hosting;

namespace PipelineServer.Internal;

// Adds every registered PipelineServer endpoint to Kestrel's options: the same path for a standalone server and for
// endpoints added to a web app's Kestrel.
internal sealed class KestrelEndpointSetup(IEnumerable<EndpointRegistration> registrations, IConfiguration? configuration) : IConfigureOptions<KestrelServerOptions>
{
    public void Configure(KestrelServerOptions options)
    {
        foreach (var registration in registrations)
        {
            var endpoint = registration.Endpoint;
            if (registration.EndPoint is { } endPoint)
            {
                options.Listen(endPoint, listen => Attach(endpoint, listen, registration.Configure));
                continue;
            }

            var url = registration.Url;
            if (endpoint.Name is { } name)
            {
                url = configuration?[$"{PipelineServerBuilder.EndpointsSection}:{name}:Url"] ?? url
                    ?? throw new InvalidOperationException(
                        $"No URL is configured for the PipelineServer endpoint '{name}'. Set {PipelineServerBuilder.EndpointsSection}:{name}:Url (for example in appsettings.json or as the environment variable PipelineServer__Endpoints__{name}__Url).");
                endpoint.ConfiguredUrl = url;
            }

            var parsed = EndpointUrl.Parse(url!);
            switch (parsed.Kind)
            {
                case EndpointKind.Localhost:
                    options.ListenLocalhost(parsed.Port, listen => Attach(endpoint, listen, registration.Configure));
                    break;
                case EndpointKind.AnyIP:
                    options.ListenAnyIP(parsed.Port, listen => Attach(endpoint, listen, registration.Configure));
                    break;
                default:
                    options.Listen(parsed.EndPoint!, listen => Attach(endpoint, listen, registration.Configure));
                    break;
            }
        }
    }

    private static void Attach(PipelineServerEndpoint endpoint, ListenOptions listen, Action<ListenOptions> configure)
    {
        endpoint.ListenOptions = listen;
        configure(listen);
    }
}
