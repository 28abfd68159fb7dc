using System.Buffers;
using PipelineServer.Protocols;
using PipelineServer.Resp.Internal;

namespace PipelineServer.Resp;

/// <summary>
/// Reads whole RESP2/RESP3 values of any type (a client's view of replies and pushes), validated against
/// <see cref="RespLimits"/>, as zero-copy <see cref="RespValue"/>s over the pipe's buffer.
/// </summary>
/// <param name="limits">The limits; <see cref="RespLimits.Default"/> when <see langword="null"/>.</param>
public sealed class RespValueReader(RespLimits? limits = null) : IMessageReader<RespValue>
{
    private readonly RespLimits _limits = limits ?? RespLimits.Default;

    /// <inheritdoc />
    public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, out RespValue message)
    {
        var first = input.FirstSpan;
        var position = 0;
        if (RespSpanParser.TrySkipValue(first, ref position, _limits, 0, out var fastType))
        {
            consumed = input.GetPosition(position);
            examined = consumed;
            message = new RespValue(fastType, input.Slice(0, consumed));
            return true;
        }

        var reader = new SequenceReader<byte>(input);
        if (!RespParser.TrySkipValue(ref reader, _limits, 0, out var type))
        {
            message = default;
            return false;
        }

        message = new RespValue(type, input.Slice(0, reader.Position));
        consumed = reader.Position;
        examined = consumed;
        return true;
    }
}
