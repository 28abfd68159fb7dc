using System.Net;
using System.Net.Sockets;
using PipelineServer.Internal;
using PipelineServer.Transports.Memory;

namespace PipelineServer.Tests.Hosting;

public class EndpointUrlTests
{
    [Theory]
    [InlineData("tcp://127.0.0.1:7000", "127.0.0.1:7000")]
    [InlineData("TCP://10.1.2.3:0", "10.1.2.3:0")]
    [InlineData("tcp://[::1]:7000", "[::1]:7000")]
    [InlineData("tcp://0.0.0.0:65535/", "0.0.0.0:65535")]
    public void ParsesTcpUrlsWithAnIpAddress(string url, string expected)
    {
        var parsed = EndpointUrl.Parse(url);

        Assert.Equal(EndpointKind.Address, parsed.Kind);
        Assert.Equal(IPEndPoint.Parse(expected), parsed.EndPoint);
    }

    [Fact]
    public void ParsesLocalhostAndWildcardHosts()
    {
        Assert.Equal(new ParsedEndpoint(EndpointKind.Localhost, null, 7000), EndpointUrl.Parse("tcp://localhost:7000"));
        Assert.Equal(new ParsedEndpoint(EndpointKind.AnyIP, null, 7001), EndpointUrl.Parse("tcp://*:7001"));
    }

    [Fact]
    public void ParsesUnixAndMemoryUrls()
    {
        Assert.Equal("/tmp/echo.sock", Assert.IsType<UnixDomainSocketEndPoint>(EndpointUrl.Parse("unix:/tmp/echo.sock").EndPoint).ToString());
        Assert.Equal("/tmp/echo.sock", Assert.IsType<UnixDomainSocketEndPoint>(EndpointUrl.Parse("unix:///tmp/echo.sock").EndPoint).ToString());
        Assert.Equal("queue", Assert.IsType<MemoryEndPoint>(EndpointUrl.Parse("memory:queue").EndPoint).Name);
    }

    [Theory]
    [InlineData("http://127.0.0.1:80", "serve no HTTP")]
    [InlineData("https://127.0.0.1:443", "serve no HTTP")]
    [InlineData("udp://127.0.0.1:53", "Unknown scheme")]
    [InlineData("tcp://127.0.0.1", "port is missing")]
    [InlineData("tcp://[::1]", "port is missing")]
    [InlineData("tcp://127.0.0.1:70000", "0 to 65535")]
    [InlineData("tcp://127.0.0.1:-1", "0 to 65535")]
    [InlineData("tcp://example.com:80", "not an IP address")]
    [InlineData("unix:", "path is empty")]
    [InlineData("memory:", "name is empty")]
    public void RefusesWhatIsNotAnEndpointUrlWithAClearReason(string url, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => EndpointUrl.Parse(url));

        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.Contains(url, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FormatsEndpointsAsProtocolUrls()
    {
        Assert.Equal("tcp://127.0.0.1:9", EndpointUrl.Format(new IPEndPoint(IPAddress.Loopback, 9)));
        Assert.Equal("unix:/run/x.sock", EndpointUrl.Format(new UnixDomainSocketEndPoint("/run/x.sock")));
        Assert.Equal("memory:a", EndpointUrl.Format(new MemoryEndPoint("a")));
    }
}
