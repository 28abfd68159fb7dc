using System.Net;

namespace PipelineServer;

/// <summary>Whether connections must, may or must not start with a PROXY protocol header.</summary>
public enum ProxyProtocolMode
{
    /// <summary>No header is read; the middleware does nothing.</summary>
    Off,

    /// <summary>
    /// Connections from trusted networks may start with a header; those that do not are passed on untouched.
    /// Connections from elsewhere are passed on untouched, and a header they send reaches the protocol as data.
    /// </summary>
    Optional,

    /// <summary>Every connection must come from a trusted network and start with a valid header; others are closed.</summary>
    Required,
}

/// <summary>
/// Options of the PROXY protocol (HAProxy's, versions 1 and 2) middleware, which lets servers behind a TCP load balancer
/// see their clients' addresses.
/// </summary>
public sealed class ProxyProtocolOptions
{
    /// <summary>Defaults to <see cref="ProxyProtocolMode.Required"/>.</summary>
    public ProxyProtocolMode Mode { get; set; } = ProxyProtocolMode.Required;

    /// <summary>
    /// The networks of the proxies (load balancers) allowed to send a header, for example <c>10.0.0.0/8</c>. Empty by
    /// default, which trusts no one: a header states the client's address, so accepting one from an arbitrary peer would
    /// let that peer claim any address.
    /// </summary>
    public IList<IPNetwork> TrustedNetworks { get; } = [];

    /// <summary>How long a trusted peer has to send its whole header. Defaults to 5 seconds.</summary>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The clock for <see cref="HeaderTimeout"/>. When <see langword="null"/> (the default), the application services'
    /// <see cref="System.TimeProvider"/>, or the system clock when they have none.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }
}
