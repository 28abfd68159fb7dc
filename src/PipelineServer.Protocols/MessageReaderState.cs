using System.Buffers;

namespace PipelineServer.Protocols;

/// <summary>
/// What a message reader remembers about one stream's incomplete message between arrivals of its bytes, so that each
/// arrival costs only its new bytes instead of a new walk over everything buffered.
/// </summary>
/// <remarks>
/// <para>
/// The caller owns the state, one per stream, and passes it by reference to
/// <see cref="IMessageReader{TMessage}.TryParseMessage(in ReadOnlySequence{byte}, ref MessageReaderState, ref SequencePosition, ref SequencePosition, out TMessage)"/>
/// on every call. <see cref="ProtocolReader"/> does this for each connection: the reader instance stays shared and
/// pure, and the state lives with the connection. The caller calls <see cref="Reset"/> whenever <c>consumed</c> moves
/// (a message was returned or bytes were skipped) and after the reader throws, and starts from
/// <see langword="default"/> when it changes readers.
/// </para>
/// <para>
/// The numbers describe the input as the reader last saw it, counted from <c>input.Start</c>. That holds across
/// arrivals because the caller passes the same unconsumed bytes again, with the new ones after them.
/// </para>
/// </remarks>
public struct MessageReaderState
{
    // Hops from a remembered segment to the input's last one that SliceFromOffset will follow before it walks from the
    // start instead. The resume point is normally in the last segment or the one before it.
    private const int MaxHintHops = 8;

    private long _offset;

    // Where Offset lay in the input of the call that set it (SetOffset). Only a hint: the input of a later call is
    // another sequence, so SliceFromOffset uses it only after checking it is a position of that input at Offset.
    private object? _hintSegment;
    private int _hintIndex;

    /// <summary>
    /// How many bytes from the start of the input the reader has already dealt with and will not look at again. Zero
    /// for a new message.
    /// </summary>
    public long Offset
    {
        readonly get => _offset;
        set
        {
            _offset = value;
            _hintSegment = null;
        }
    }

    /// <summary>
    /// A number the reader keeps with <see cref="Offset"/>, meaning what the reader says (for example how many elements
    /// lie before it). Zero for a new message.
    /// </summary>
    public long Progress { get; set; }

    /// <summary>
    /// An object the reader may attach for what does not fit in two numbers (a stack of nested counts). Unlike them it
    /// survives <see cref="Reset"/>, so a reader allocates it once per stream and reuses it for every message.
    /// </summary>
    public object? Scratch { get; set; }

    /// <summary>Starts a new message: clears <see cref="Offset"/> and <see cref="Progress"/> and keeps <see cref="Scratch"/>.</summary>
    public void Reset()
    {
        _offset = 0;
        _hintSegment = null;
        Progress = 0;
    }

    /// <summary>
    /// Sets <see cref="Offset"/> together with where it lies in the current input, so that the next call finds it without
    /// a walk over the segments before it even when later bytes arrive in new segments.
    /// </summary>
    /// <param name="offset">The new <see cref="Offset"/>.</param>
    /// <param name="position">The position in the current input that lies <paramref name="offset"/> bytes from its start.</param>
    public void SetOffset(long offset, SequencePosition position)
    {
        _offset = offset;
        _hintSegment = position.GetObject();
        _hintIndex = position.GetInteger();
    }

    /// <summary>
    /// The input from <see cref="Offset"/> on: where the reader resumes. Found without reading any bytes, and without
    /// walking the segments before it when it lies in the last segment or was set with <see cref="SetOffset"/>.
    /// </summary>
    /// <param name="input">The input the reader was called with.</param>
    /// <returns>The slice of <paramref name="input"/> that starts at <see cref="Offset"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="Offset"/> is past the end of <paramref name="input"/>.</exception>
    public readonly ReadOnlySequence<byte> SliceFromOffset(in ReadOnlySequence<byte> input)
    {
        var offset = _offset;
        if (offset == 0)
        {
            return input;
        }

        if (input.IsSingleSegment)
        {
            return input.Slice(offset);
        }

        // In a sequence of segments the last segment's bytes start at index 0 of its memory, and End is an index into
        // that memory; so a tail no longer than End's index lies in the last segment.
        var end = input.End;
        var fromEnd = input.Length - offset;
        if ((ulong)fromEnd <= (ulong)end.GetInteger())
        {
            return input.Slice(new SequencePosition(end.GetObject(), end.GetInteger() - (int)fromEnd));
        }

        if (_hintSegment is ReadOnlySequenceSegment<byte> hint && input.Start.GetObject() is ReadOnlySequenceSegment<byte> first
            && (ulong)fromEnd <= (ulong)input.Length
            && hint.RunningIndex + _hintIndex - (first.RunningIndex + input.Start.GetInteger()) == offset)
        {
            // The hint's running index puts it at Offset; it is a position of this input if the input's last segment
            // can be reached from it (a segment the pipe dropped is unlinked, and its bytes are never read).
            var segment = hint;
            for (var hops = 0; hops <= MaxHintHops && segment is not null; hops++, segment = segment.Next)
            {
                if (ReferenceEquals(segment, end.GetObject()))
                {
                    return input.Slice(new SequencePosition(hint, _hintIndex));
                }
            }
        }

        return input.Slice(offset);
    }
}
