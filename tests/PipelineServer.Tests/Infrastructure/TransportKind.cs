namespace PipelineServer.Tests.Infrastructure;

/// <summary>Functional tests run one body over both transports: real sockets on 127.0.0.1 and the in-memory transport.</summary>
public enum TransportKind
{
    Sockets,
    Memory,
}

public static class TestTransports
{
    public static TheoryData<TransportKind> All => new() { TransportKind.Sockets, TransportKind.Memory };
}
