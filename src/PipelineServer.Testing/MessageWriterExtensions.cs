using System.Buffers;
using PipelineServer.Protocols;

namespace PipelineServer.Testing;

/// <summary>Serialises messages to byte arrays, to check a codec's output or build test input.</summary>
public static class MessageWriterExtensions
{
    /// <summary>Writes the messages, in order, and returns the bytes.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <param name="writer">The codec.</param>
    /// <param name="messages">The messages.</param>
    /// <returns>The bytes the writer produced.</returns>
    public static byte[] WriteToArray<TMessage>(this IMessageWriter<TMessage> writer, params ReadOnlySpan<TMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var message in messages)
        {
            writer.WriteMessage(message, buffer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
