using System.Buffers;

namespace PipelineServer.Protocols;

/// <summary>
/// Writes one message of type <typeparamref name="TMessage"/> to a buffer writer.
/// </summary>
/// <typeparam name="TMessage">The message type.</typeparam>
/// <remarks>
/// A writer does no I/O and keeps no per-connection state. It must validate the message before it writes any byte:
/// bytes already advanced into a pipe cannot be taken back, so a writer that throws half-way would corrupt the stream.
/// </remarks>
public interface IMessageWriter<TMessage>
{
    /// <summary>Writes <paramref name="message"/> to <paramref name="output"/>.</summary>
    /// <param name="message">The message to write.</param>
    /// <param name="output">The destination, usually a <see cref="System.IO.Pipelines.PipeWriter"/>.</param>
    void WriteMessage(TMessage message, IBufferWriter<byte> output);
}
