using System.Buffers;
using System.Text;
using PipelineServer.Protocols;

namespace PipelineServer.Resp;

/// <summary>A command for a RESP server: its arguments, sent as an array of bulk strings.</summary>
public readonly struct RespRequest
{
    private readonly ReadOnlyMemory<byte>[] _arguments;

    /// <summary>Creates a command from raw arguments (the name first).</summary>
    /// <param name="arguments">The arguments.</param>
    public RespRequest(params ReadOnlyMemory<byte>[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        if (arguments.Length == 0)
        {
            throw new ArgumentException("A command has at least a name.", nameof(arguments));
        }

        _arguments = arguments;
    }

    /// <summary>The arguments, the name first.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Arguments => _arguments ?? [];

    /// <summary>Creates a command from text arguments (UTF-8), for example <c>RespRequest.Command("SET", "key", "value")</c>.</summary>
    /// <param name="arguments">The arguments, the name first.</param>
    /// <returns>The command.</returns>
    public static RespRequest Command(params string[] arguments)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var encoded = new ReadOnlyMemory<byte>[arguments.Length];
        for (var i = 0; i < arguments.Length; i++)
        {
            encoded[i] = Encoding.UTF8.GetBytes(arguments[i]);
        }

        return new RespRequest(encoded);
    }

    /// <summary>Writes commands as arrays of bulk strings.</summary>
    public sealed class Writer : IMessageWriter<RespRequest>
    {
        /// <summary>The instance.</summary>
        public static Writer Instance { get; } = new();

        /// <inheritdoc />
        public void WriteMessage(RespRequest message, IBufferWriter<byte> output)
        {
            RespWriter.WriteAggregateHeader(output, RespType.Array, message.Arguments.Count, 2);
            foreach (var argument in message.Arguments)
            {
                RespWriter.WriteBulkString(output, argument.Span);
            }
        }
    }
}
