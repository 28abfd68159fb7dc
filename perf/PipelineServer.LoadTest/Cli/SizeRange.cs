using System.Globalization;

namespace PipelineServer.LoadTest.Cli;

/// <summary>A payload size, or a range of sizes drawn uniformly: <c>64</c> or <c>16-4096</c>.</summary>
internal readonly record struct SizeRange(int Min, int Max)
{
    public static SizeRange Parse(string text)
    {
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            var size = ParseSize(text);
            return new SizeRange(size, size);
        }

        var range = new SizeRange(ParseSize(text[..dash]), ParseSize(text[(dash + 1)..]));
        if (range.Min > range.Max)
        {
            throw new FormatException($"The size range '{text}' runs backwards.");
        }

        return range;
    }

    public override string ToString() => Min == Max ? Min.ToString(CultureInfo.InvariantCulture) : $"{Min}-{Max}";

    // 64, 4k, 4KiB, 1m, 1MiB
    private static int ParseSize(string text)
    {
        var trimmed = text.Trim().ToLowerInvariant().Replace("ib", "", StringComparison.Ordinal).Replace("b", "", StringComparison.Ordinal);
        var multiplier = 1;
        if (trimmed.EndsWith('k'))
        {
            multiplier = 1024;
            trimmed = trimmed[..^1];
        }
        else if (trimmed.EndsWith('m'))
        {
            multiplier = 1024 * 1024;
            trimmed = trimmed[..^1];
        }

        if (!int.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 0)
        {
            throw new FormatException($"'{text}' is not a size: use a number of bytes such as 64, 4k or 1m.");
        }

        return checked(value * multiplier);
    }
}
