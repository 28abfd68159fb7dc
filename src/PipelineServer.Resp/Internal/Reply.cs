using System.Buffers;
using PipelineServer.Protocols;

namespace PipelineServer.Resp.Internal;

internal enum ReplyKind : byte
{
    SimpleString,
    Error,
    Integer,
    Bulk,
    Null,
    Header,
    Double,
    Boolean,
    BigNumber,
    Verbatim,
    Raw,
}

// One reply element, written under the connection's writer lock by ReplyWriter. A struct: writing it allocates nothing.
internal readonly struct Reply(ReplyKind kind, int protocol, long number = 0, ReadOnlySequence<byte> bytes = default, string? text = null, RespType type = RespType.None, double real = 0)
{
    public ReplyKind Kind { get; } = kind;

    public int Protocol { get; } = protocol;

    public long Number { get; } = number;

    public ReadOnlySequence<byte> Bytes { get; } = bytes;

    public string? Text { get; } = text;

    public RespType Type { get; } = type;

    public double Real { get; } = real;
}

internal sealed class ReplyWriter : IMessageWriter<Reply>
{
    public static readonly ReplyWriter Instance = new();

    public void WriteMessage(Reply message, IBufferWriter<byte> output)
    {
        switch (message.Kind)
        {
            case ReplyKind.SimpleString:
                RespWriter.WriteSimpleString(output, message.Bytes.FirstSpan);
                break;
            case ReplyKind.Error:
                RespWriter.WriteError(output, message.Text!);
                break;
            case ReplyKind.Integer:
                RespWriter.WriteInteger(output, message.Number);
                break;
            case ReplyKind.Bulk:
                RespWriter.WriteBulkString(output, message.Bytes);
                break;
            case ReplyKind.Null:
                if (message.Type == RespType.Array && message.Protocol < 3)
                {
                    output.Write("*-1\r\n"u8);
                }
                else
                {
                    RespWriter.WriteNull(output, message.Protocol);
                }

                break;
            case ReplyKind.Header:
                RespWriter.WriteAggregateHeader(output, message.Type, message.Number, message.Protocol);
                break;
            case ReplyKind.Double:
                RespWriter.WriteDouble(output, message.Real, message.Protocol);
                break;
            case ReplyKind.Boolean:
                RespWriter.WriteBoolean(output, message.Number != 0, message.Protocol);
                break;
            case ReplyKind.BigNumber:
                RespWriter.WriteBigNumber(output, message.Bytes.FirstSpan, message.Protocol);
                break;
            case ReplyKind.Verbatim:
                RespWriter.WriteVerbatimString(output, "txt"u8, message.Bytes.IsSingleSegment ? message.Bytes.FirstSpan : message.Bytes.ToArray(), message.Protocol);
                break;
            case ReplyKind.Raw:
                foreach (var segment in message.Bytes)
                {
                    output.Write(segment.Span);
                }

                break;
        }
    }
}
