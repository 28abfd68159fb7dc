namespace PipelineServer.Resp;

/// <summary>
/// Bounds on what a peer may send, checked from headers before any data is buffered or any memory reserved. The
/// defaults follow Redis's own (512 MiB bulk strings, 64 KiB inline commands) except where a safer one costs nothing.
/// </summary>
public sealed class RespLimits
{
    /// <summary>The default limits.</summary>
    public static RespLimits Default { get; } = new();

    /// <summary>The largest bulk string (or verbatim string, bulk error) accepted, in bytes. Default 512 MiB.</summary>
    public long MaxBulkLength { get; init; } = 512L * 1024 * 1024;

    /// <summary>The most elements an array, set or push (or pairs a map or attribute) may announce. Default 1,048,576.</summary>
    public long MaxAggregateLength { get; init; } = 1024 * 1024;

    /// <summary>How deeply aggregates may nest. Default 32; a command from a client is one level.</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>The longest inline command (a line typed in telnet), in bytes. Default 64 KiB.</summary>
    public int MaxInlineLength { get; init; } = 64 * 1024;

    /// <summary>The longest simple string, error, integer, double or big number line, in bytes. Default 64 KiB.</summary>
    public int MaxLineLength { get; init; } = 64 * 1024;
}
