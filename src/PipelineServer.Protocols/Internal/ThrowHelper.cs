using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace PipelineServer.Protocols.Internal;

// Throw sites are kept out of line so that the hot callers stay small enough to inline.
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowProtocolException(ProtocolErrorKind kind, string message) => throw CreateProtocolException(kind, message);

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static ProtocolException CreateProtocolException(ProtocolErrorKind kind, string message) => new(kind, message);

    [DoesNotReturn]
    public static void ThrowFrameTooLarge(Int128 frameLength, int maxFrameLength) => throw CreateFrameTooLarge(frameLength, maxFrameLength);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ProtocolException CreateFrameTooLarge(Int128 frameLength, int maxFrameLength) =>
        new(ProtocolErrorKind.MessageTooLarge, $"The frame length {frameLength} exceeds the maximum of {maxFrameLength} bytes.");

    [DoesNotReturn]
    public static void ThrowBufferedTooLarge(long buffered, int maxMessageSize) => throw CreateBufferedTooLarge(buffered, maxMessageSize);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ProtocolException CreateBufferedTooLarge(long buffered, int maxMessageSize) =>
        new(ProtocolErrorKind.MessageTooLarge, $"{buffered} bytes were received without a complete message; the maximum message size is {maxMessageSize} bytes.");

    [DoesNotReturn]
    public static void ThrowMessageTooLarge(long length, int maxMessageSize) => throw CreateMessageTooLarge(length, maxMessageSize);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ProtocolException CreateMessageTooLarge(long length, int maxMessageSize) =>
        new(ProtocolErrorKind.MessageTooLarge, $"A message of {length} bytes exceeds the maximum message size of {maxMessageSize} bytes.");

    [DoesNotReturn]
    public static void ThrowTruncated(long buffered) => throw CreateTruncated(buffered);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ProtocolException CreateTruncated(long buffered) =>
        new(ProtocolErrorKind.Truncated, $"The stream ended inside a message: {buffered} bytes of an incomplete message were received.");

    [DoesNotReturn]
    public static void ThrowInvalidOperationException_NoMessage() =>
        throw new InvalidOperationException("This read result carries no message; check HasMessage, IsCompleted and IsCanceled first.");

    [DoesNotReturn]
    public static void ThrowInvalidOperationException_NotAdvanced() =>
        throw new InvalidOperationException("The previous message has not been released: call ProtocolReader.Advance() after handling a message and before reading the next one.");

    [DoesNotReturn]
    public static void ThrowInvalidOperationException_NothingToAdvance() =>
        throw new InvalidOperationException("There is no message to advance past: Advance() must follow a read that returned a message, once.");

    [DoesNotReturn]
    public static void ThrowInvalidOperationException_ConcurrentRead() =>
        throw new InvalidOperationException("A read is already in progress: a ProtocolReader supports one reader at a time.");

    [DoesNotReturn]
    public static void ThrowInvalidOperationException_NothingConsumed(object reader) =>
        throw new InvalidOperationException($"The message reader '{reader.GetType().Name}' returned a message but consumed no bytes; it would be called forever on the same input.");

    [DoesNotReturn]
    public static void ThrowConnectionClosed(Exception? reason) =>
        throw new ConnectionClosedException("The connection is closed; nothing more can be written to it.", reason);

    [DoesNotReturn]
    public static void ThrowArgumentException(string message, string paramName) => throw new ArgumentException(message, paramName);

    [DoesNotReturn]
    public static void ThrowArgumentOutOfRange(string paramName, object value, string message) =>
        throw new ArgumentOutOfRangeException(paramName, value, message);
}
