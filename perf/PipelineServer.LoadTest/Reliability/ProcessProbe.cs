using System.Globalization;

namespace PipelineServer.LoadTest.Reliability;

/// <summary>A process's footprint as Linux sees it, read from <c>/proc/&lt;pid&gt;</c>.</summary>
/// <param name="RssBytes">Resident set (<c>VmRSS</c>).</param>
/// <param name="Fds">Open file descriptors (entries of <c>fd/</c>).</param>
/// <param name="Threads">Threads (<c>Threads</c>, the entries of <c>task/</c>).</param>
internal readonly record struct ProcessSample(long RssBytes, int Fds, int Threads);

/// <summary>Reads <see cref="ProcessSample"/>s and descriptor limits from <c>/proc</c> (Linux only).</summary>
internal static class ProcessProbe
{
    public static bool IsSupported => OperatingSystem.IsLinux();

    public static ProcessSample Sample(int pid)
    {
        long rss = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = ParseKiB(line) * 1024;
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line.AsSpan("Threads:".Length).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return new ProcessSample(rss, CountFds(pid), threads);
    }

    public static int CountFds(int pid)
    {
        var count = 0;
        foreach (var _ in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            count++;
        }

        return count;
    }

    /// <summary>The soft limit on open files (<c>Max open files</c> in <c>/proc/&lt;pid&gt;/limits</c>); <see cref="long.MaxValue"/> when unlimited.</summary>
    public static long OpenFileLimit(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/limits"))
        {
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                return soft == "unlimited" ? long.MaxValue : long.Parse(soft, CultureInfo.InvariantCulture);
            }
        }

        return long.MaxValue;
    }

    private static long ParseKiB(string line)
    {
        // "VmRSS:	  123456 kB"
        var value = line.AsSpan(line.IndexOf(':') + 1).Trim();
        var space = value.IndexOf(' ');
        return long.Parse(space < 0 ? value : value[..space], CultureInfo.InvariantCulture);
    }
}
