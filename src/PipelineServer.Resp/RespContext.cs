using System.Buffers;
using PipelineServer.Resp.Internal;

namespace PipelineServer.Resp;

/// <summary>
/// One client connection as RESP command handlers see it: the negotiated protocol version (2 until <c>HELLO 3</c>),
/// the client's id and name, and reply methods that write straight into the connection's output (replies go out with
/// the rest of the pipelined batch, in one flush). Replies in RESP3-only types degrade to their RESP2 forms.
/// </summary>
public sealed class RespContext
{
    private static long s_nextId;

    internal RespContext(ProtocolSession<RespValue> session)
    {
        Session = session;
        ClientId = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>The connection's session: endpoints, items, services, close.</summary>
    public ProtocolSession<RespValue> Session { get; }

    /// <summary>The protocol version replies are written in: 2 (the default) or 3 (after <c>HELLO 3</c>).</summary>
    public int ProtocolVersion { get; set; } = 2;

    /// <summary>A process-wide unique id for the connection (<c>CLIENT ID</c>).</summary>
    public long ClientId { get; }

    /// <summary>The name the client gave itself (<c>CLIENT SETNAME</c>).</summary>
    public string? ClientName { get; set; }

    /// <summary>The selected database (<c>SELECT</c>).</summary>
    public int Database { get; set; }

    /// <summary>A slot for the application's per-connection state.</summary>
    public object? State { get; set; }

    /// <summary>Writes a simple string (<c>+OK</c>).</summary>
    /// <param name="text">ASCII text without CR or LF, typically a static array.</param>
    public void WriteSimpleString(ReadOnlyMemory<byte> text) => Write(new Reply(ReplyKind.SimpleString, ProtocolVersion, bytes: new ReadOnlySequence<byte>(text)));

    /// <summary>Writes <c>+OK</c>.</summary>
    public void WriteOk() => WriteSimpleString(s_ok);

    /// <summary>Writes an error reply (<c>-ERR ...</c>).</summary>
    /// <param name="message">The message, starting with an error code.</param>
    public void WriteError(string message) => Write(new Reply(ReplyKind.Error, ProtocolVersion, text: message));

    /// <summary>Writes an integer.</summary>
    /// <param name="value">The integer.</param>
    public void WriteInteger(long value) => Write(new Reply(ReplyKind.Integer, ProtocolVersion, number: value));

    /// <summary>Writes a bulk string.</summary>
    /// <param name="value">The bytes (a slice of the command is fine: it is copied into the output now).</param>
    public void WriteBulkString(in ReadOnlySequence<byte> value) => Write(new Reply(ReplyKind.Bulk, ProtocolVersion, bytes: value));

    /// <summary>Writes a bulk string.</summary>
    /// <param name="value">The bytes.</param>
    public void WriteBulkString(ReadOnlyMemory<byte> value) => WriteBulkString(new ReadOnlySequence<byte>(value));

    /// <summary>Writes null (RESP3 <c>_</c>; RESP2 <c>$-1</c>).</summary>
    public void WriteNull() => Write(new Reply(ReplyKind.Null, ProtocolVersion));

    /// <summary>Writes a null array (RESP3 <c>_</c>; RESP2 <c>*-1</c>).</summary>
    public void WriteNullArray() => Write(new Reply(ReplyKind.Null, ProtocolVersion, type: RespType.Array));

    /// <summary>Starts an array of <paramref name="count"/> elements; write them next.</summary>
    /// <param name="count">The number of elements.</param>
    public void WriteArray(long count) => Write(new Reply(ReplyKind.Header, ProtocolVersion, number: count, type: RespType.Array));

    /// <summary>Starts a map of <paramref name="pairs"/> key/value pairs (an array of 2 × pairs in RESP2); write them next.</summary>
    /// <param name="pairs">The number of pairs.</param>
    public void WriteMap(long pairs) => Write(new Reply(ReplyKind.Header, ProtocolVersion, number: pairs, type: RespType.Map));

    /// <summary>Starts a set (an array in RESP2).</summary>
    /// <param name="count">The number of elements.</param>
    public void WriteSet(long count) => Write(new Reply(ReplyKind.Header, ProtocolVersion, number: count, type: RespType.Set));

    /// <summary>Starts a push (RESP3 out-of-band data; an array in RESP2).</summary>
    /// <param name="count">The number of elements.</param>
    public void WritePush(long count) => Write(new Reply(ReplyKind.Header, ProtocolVersion, number: count, type: RespType.Push));

    /// <summary>Writes a double (a bulk string in RESP2).</summary>
    /// <param name="value">The double.</param>
    public void WriteDouble(double value) => Write(new Reply(ReplyKind.Double, ProtocolVersion, real: value));

    /// <summary>Writes a boolean (the integer 1 or 0 in RESP2).</summary>
    /// <param name="value">The boolean.</param>
    public void WriteBoolean(bool value) => Write(new Reply(ReplyKind.Boolean, ProtocolVersion, number: value ? 1 : 0));

    /// <summary>Writes a big number (a bulk string in RESP2).</summary>
    /// <param name="digits">Digits with an optional sign.</param>
    public void WriteBigNumber(ReadOnlyMemory<byte> digits) => Write(new Reply(ReplyKind.BigNumber, ProtocolVersion, bytes: new ReadOnlySequence<byte>(digits)));

    /// <summary>Writes a verbatim text string (<c>txt</c> format; a bulk string in RESP2), as <c>INFO</c> replies.</summary>
    /// <param name="text">The text.</param>
    public void WriteVerbatimText(ReadOnlyMemory<byte> text) => Write(new Reply(ReplyKind.Verbatim, ProtocolVersion, bytes: new ReadOnlySequence<byte>(text)));

    /// <summary>Writes an already encoded RESP value as is.</summary>
    /// <param name="value">The value.</param>
    public void WriteRaw(in RespValue value) => Write(new Reply(ReplyKind.Raw, ProtocolVersion, bytes: value.Raw));

    private static readonly byte[] s_ok = "OK"u8.ToArray();

    private void Write(Reply reply) => Session.Writer.Write(ReplyWriter.Instance, reply);
}
