namespace PipelineServer.Protocols.Internal;

internal static class LengthFieldValidation
{
    public static void ThrowIfUnsupportedLength(int lengthFieldLength)
    {
        if (lengthFieldLength is not (1 or 2 or 3 or 4 or 8))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(lengthFieldLength), lengthFieldLength, "The length field must be 1, 2, 3, 4 or 8 bytes long.");
        }
    }
}
