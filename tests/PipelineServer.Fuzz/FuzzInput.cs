namespace PipelineServer.Fuzz;

/// <summary>
/// How a target reads its input: byte 0 chooses the segmentation, byte 1 the parser's options, and the rest is the byte
/// stream a peer sends. Missing header bytes count as zero, so every input, even an empty one, runs.
/// </summary>
public readonly ref struct FuzzInput
{
    public const int HeaderLength = 2;

    public FuzzInput(ReadOnlySpan<byte> data)
    {
        Segmentation = Segmentation.FromByte(data.Length > 0 ? data[0] : (byte)0);
        Options = data.Length > 1 ? data[1] : (byte)0;
        Stream = data.Length > HeaderLength ? data[HeaderLength..] : [];
    }

    /// <summary>How the stream is cut into arrivals and pipe blocks.</summary>
    public Segmentation Segmentation { get; }

    /// <summary>The target-specific configuration byte (which codec options, which limits).</summary>
    public byte Options { get; }

    /// <summary>The bytes the peer sends.</summary>
    public ReadOnlySpan<byte> Stream { get; }
}
