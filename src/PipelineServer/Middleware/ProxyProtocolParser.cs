using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace PipelineServer.Middleware;

internal enum ProxyParseStatus
{
    NeedMoreData,
    NotProxyProtocol,
    Invalid,
    Parsed,
}

// A parsed header. Addresses are null for LOCAL (v2), UNKNOWN (v1) and non-IP families: the connection keeps its own.
internal readonly record struct ProxyHeader(int Length, IPEndPoint? Source, IPEndPoint? Destination);

// HAProxy's PROXY protocol, versions 1 (text) and 2 (binary), as specified in haproxy's doc/proxy-protocol.txt.
// Pure functions over the buffered bytes, so any segmentation parses the same (and the parser can be fuzzed).
internal static class ProxyProtocolParser
{
    public const int V1MaxLength = 107;
    public const int V2HeaderLength = 16;

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    public static ProxyParseStatus TryParse(in ReadOnlySequence<byte> buffer, out ProxyHeader header, out string? error)
    {
        header = default;
        error = null;
        Span<byte> start = stackalloc byte[V2HeaderLength];
        var available = (int)Math.Min(buffer.Length, V2HeaderLength);
        buffer.Slice(0, available).CopyTo(start);
        var head = start[..available];

        if (IsPrefixOf(head, V2Signature))
        {
            return available < V2HeaderLength ? ProxyParseStatus.NeedMoreData : ParseV2(buffer, head, out header, out error);
        }

        if (IsPrefixOf(head, V1Prefix))
        {
            return available < V1Prefix.Length ? ProxyParseStatus.NeedMoreData : ParseV1(buffer, out header, out error);
        }

        return ProxyParseStatus.NotProxyProtocol;
    }

    // True when the shorter of the two is a prefix of the longer: the bytes so far agree with the signature.
    private static bool IsPrefixOf(ReadOnlySpan<byte> head, ReadOnlySpan<byte> signature)
    {
        var length = Math.Min(head.Length, signature.Length);
        return length > 0 && head[..length].SequenceEqual(signature[..length]);
    }

    private static ProxyParseStatus ParseV2(in ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> head, out ProxyHeader header, out string? error)
    {
        header = default;
        error = null;
        var versionCommand = head[12];
        if (versionCommand >> 4 != 2)
        {
            error = $"unsupported version {versionCommand >> 4}";
            return ProxyParseStatus.Invalid;
        }

        var command = versionCommand & 0x0F;
        if (command > 1)
        {
            error = $"unknown command {command}";
            return ProxyParseStatus.Invalid;
        }

        var family = head[13];
        var length = V2HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(head[14..]);
        if (buffer.Length < length)
        {
            return ProxyParseStatus.NeedMoreData;
        }

        if (command == 0)
        {
            // LOCAL: the proxy's own connection (a health check); the addresses, if any, are ignored.
            header = new ProxyHeader(length, null, null);
            return ProxyParseStatus.Parsed;
        }

        var addressFamily = family >> 4;
        var transport = family & 0x0F;
        if (addressFamily > 3 || transport > 2)
        {
            error = $"unknown address family or transport 0x{family:X2}";
            return ProxyParseStatus.Invalid;
        }

        var addressLength = addressFamily switch { 1 => 12, 2 => 36, 3 => 216, _ => 0 };
        if (length - V2HeaderLength < addressLength)
        {
            error = $"address block of {length - V2HeaderLength} bytes is too short for family 0x{family:X2}";
            return ProxyParseStatus.Invalid;
        }

        if (addressFamily is 0 or 3)
        {
            // UNSPEC or UNIX: nothing an IP endpoint can hold.
            header = new ProxyHeader(length, null, null);
            return ProxyParseStatus.Parsed;
        }

        Span<byte> addresses = stackalloc byte[36];
        buffer.Slice(V2HeaderLength, addressLength).CopyTo(addresses);
        var size = addressFamily == 1 ? 4 : 16;
        var source = new IPAddress(addresses[..size]);
        var destination = new IPAddress(addresses.Slice(size, size));
        var sourcePort = BinaryPrimitives.ReadUInt16BigEndian(addresses[(2 * size)..]);
        var destinationPort = BinaryPrimitives.ReadUInt16BigEndian(addresses[(2 * size + 2)..]);
        header = new ProxyHeader(length, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
        return ProxyParseStatus.Parsed;
    }

    private static ProxyParseStatus ParseV1(in ReadOnlySequence<byte> buffer, out ProxyHeader header, out string? error)
    {
        header = default;
        error = null;
        Span<byte> line = stackalloc byte[V1MaxLength];
        var available = (int)Math.Min(buffer.Length, V1MaxLength);
        buffer.Slice(0, available).CopyTo(line);
        var end = line[..available].IndexOf("\r\n"u8);
        if (end < 0)
        {
            if (available == V1MaxLength)
            {
                error = "a version 1 header longer than 107 bytes";
                return ProxyParseStatus.Invalid;
            }

            // A lone LF or CR inside the line can never become valid.
            if (line[..available].IndexOfAny((byte)'\n', (byte)0) >= 0 || line[..Math.Max(0, available - 1)].Contains((byte)'\r'))
            {
                error = "a version 1 header with a stray line break";
                return ProxyParseStatus.Invalid;
            }

            return ProxyParseStatus.NeedMoreData;
        }

        // The same rule as for a line still arriving, or the decision would depend on how the line was split: an
        // UNKNOWN line, whose fields are not parsed, was accepted with a stray LF or NUL when it came in one read and
        // rejected when it came byte by byte.
        if (line[..end].IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0)
        {
            error = "a version 1 header with a stray line break";
            return ProxyParseStatus.Invalid;
        }

        var fields = line[V1Prefix.Length..end];
        Span<Range> parts = stackalloc Range[6];
        var count = Split(fields, parts);
        var protocol = fields[parts[0]];
        if (protocol.SequenceEqual("UNKNOWN"u8))
        {
            // The proxy could not tell (or will not say); the rest of the line is ignored.
            header = new ProxyHeader(end + 2, null, null);
            return ProxyParseStatus.Parsed;
        }

        var isV4 = protocol.SequenceEqual("TCP4"u8);
        if (!isV4 && !protocol.SequenceEqual("TCP6"u8))
        {
            error = "a version 1 header with an unknown protocol";
            return ProxyParseStatus.Invalid;
        }

        if (count != 5
            || !TryParseAddress(fields[parts[1]], isV4, out var source)
            || !TryParseAddress(fields[parts[2]], isV4, out var destination)
            || !TryParsePort(fields[parts[3]], out var sourcePort)
            || !TryParsePort(fields[parts[4]], out var destinationPort))
        {
            error = "a malformed version 1 header";
            return ProxyParseStatus.Invalid;
        }

        header = new ProxyHeader(end + 2, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort));
        return ProxyParseStatus.Parsed;
    }

    // Splits on single spaces into at most parts.Length fields; returns parts.Length + 1 when there are more.
    private static int Split(ReadOnlySpan<byte> fields, Span<Range> parts)
    {
        var count = 0;
        var start = 0;
        for (var i = 0; i <= fields.Length; i++)
        {
            if (i == fields.Length || fields[i] == (byte)' ')
            {
                if (count == parts.Length)
                {
                    return count + 1;
                }

                parts[count++] = new Range(start, i);
                start = i + 1;
            }
        }

        return count;
    }

    private static bool TryParseAddress(ReadOnlySpan<byte> text, bool isV4, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.IsEmpty || text.Length > 45)
        {
            return false;
        }

        Span<char> chars = stackalloc char[45];
        var length = Encoding.ASCII.GetChars(text, chars);
        if (!IPAddress.TryParse(chars[..length], out var parsed))
        {
            return false;
        }

        var family = isV4 ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6;
        if (parsed.AddressFamily != family || (isV4 && text.Count((byte)'.') != 3))
        {
            return false;
        }

        address = parsed;
        return true;
    }

    private static bool TryParsePort(ReadOnlySpan<byte> text, out int port)
    {
        port = 0;
        if (text.IsEmpty || text.Length > 5 || (text.Length > 1 && text[0] == (byte)'0'))
        {
            return false;
        }

        foreach (var b in text)
        {
            if ((uint)(b - '0') > 9)
            {
                return false;
            }

            port = (port * 10) + (b - '0');
        }

        return port <= 65535;
    }
}
