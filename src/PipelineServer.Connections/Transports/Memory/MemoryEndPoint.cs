using System.Net;

namespace PipelineServer.Transports.Memory;

/// <summary>The address of an in-memory listener: a name, unique within one <see cref="MemoryTransport"/>.</summary>
public sealed class MemoryEndPoint : EndPoint, IEquatable<MemoryEndPoint>
{
    /// <summary>Creates an endpoint.</summary>
    /// <param name="name">The listener's name; not empty.</param>
    public MemoryEndPoint(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
    }

    /// <summary>The listener's name.</summary>
    public string Name { get; }

    /// <inheritdoc />
    public bool Equals(MemoryEndPoint? other) => other is not null && string.Equals(Name, other.Name, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is MemoryEndPoint other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Name);

    /// <summary>The endpoint as a URL, <c>memory:name</c>.</summary>
    /// <returns>The URL.</returns>
    public override string ToString() => "memory:" + Name;
}
