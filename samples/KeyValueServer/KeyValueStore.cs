using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace KeyValueServer;

/// <summary>
/// A thread-safe in-memory string store with expiry, lazy (an expired key reads as missing and is removed on access) and
/// active (a timer removes expired keys that nobody reads). Keys are looked up by span, so a GET allocates nothing.
/// Entries are immutable and replaced with compare-and-swap, so updates from many cores never lock.
/// </summary>
public sealed class KeyValueStore : IDisposable
{
    private readonly ConcurrentDictionary<byte[], Entry> _data = new(KeyComparer.Instance);
    private readonly ConcurrentDictionary<byte[], Entry>.AlternateLookup<ReadOnlySpan<byte>> _byspan;
    private readonly ConcurrentDictionary<byte[], byte> _expiring = new(KeyComparer.Instance);
    private readonly TimeProvider _time;
    private readonly ITimer _activeExpiry;

    /// <summary>Creates a store.</summary>
    /// <param name="time">The clock (tests use a fake one); the system clock by default.</param>
    public KeyValueStore(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _byspan = _data.GetAlternateLookup<ReadOnlySpan<byte>>();
        _activeExpiry = _time.CreateTimer(static state => ((KeyValueStore)state!).RemoveExpired(), this, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100));
    }

    /// <summary>The number of keys (expired ones not yet removed included, as Redis's DBSIZE).</summary>
    public int Count => _data.Count;

    /// <summary>The number of keys with an expiry.</summary>
    public int ExpiringCount => _expiring.Count;

    /// <summary>Milliseconds since the Unix epoch, by the store's clock.</summary>
    public long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Reads a live entry.</summary>
    /// <param name="key">The key.</param>
    /// <param name="entry">The entry.</param>
    /// <returns><see langword="false"/> when the key is missing or expired.</returns>
    public bool TryGet(ReadOnlySpan<byte> key, [NotNullWhen(true)] out Entry? entry)
    {
        if (_byspan.TryGetValue(key, out var stored, out entry))
        {
            if (!entry.IsExpired(Now))
            {
                return true;
            }

            Remove(stored, entry);
        }

        entry = null;
        return false;
    }

    /// <summary>Sets a key unconditionally.</summary>
    /// <param name="key">The key (copied).</param>
    /// <param name="entry">The new entry.</param>
    public void Set(ReadOnlySpan<byte> key, Entry entry)
    {
        var stored = StoredKey(key);
        _data[stored] = entry;
        TrackExpiry(stored, entry);
    }

    /// <summary>
    /// Replaces a key's entry atomically: <paramref name="update"/> sees the live entry (or null) and returns the new one
    /// (or null to leave the key alone). Retried on contention, so it must be a pure function.
    /// </summary>
    /// <typeparam name="TState">The update's state.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="state">The update's state.</param>
    /// <param name="update">The update.</param>
    /// <returns>The entry before and after (after is the old one when nothing changed).</returns>
    public (Entry? Before, Entry? After) Update<TState>(ReadOnlySpan<byte> key, TState state, Func<Entry?, TState, Entry?> update)
        where TState : allows ref struct
    {
        while (true)
        {
            var now = Now;
            if (_byspan.TryGetValue(key, out var stored, out var current))
            {
                var live = current.IsExpired(now) ? null : current;
                var next = update(live, state);
                if (next is null)
                {
                    return (live, live);
                }

                if (_data.TryUpdate(stored, next, current))
                {
                    TrackExpiry(stored, next);
                    return (live, next);
                }
            }
            else
            {
                var next = update(null, state);
                if (next is null)
                {
                    return (null, null);
                }

                var added = StoredKey(key);
                if (_data.TryAdd(added, next))
                {
                    TrackExpiry(added, next);
                    return (null, next);
                }
            }
        }
    }

    /// <summary>Removes a key.</summary>
    /// <param name="key">The key.</param>
    /// <returns>Whether a live key was removed.</returns>
    public bool Delete(ReadOnlySpan<byte> key)
    {
        if (_byspan.TryRemove(key, out var stored, out var entry))
        {
            _expiring.TryRemove(stored, out _);
            return !entry.IsExpired(Now);
        }

        return false;
    }

    /// <summary>Removes every key.</summary>
    public void Clear()
    {
        _data.Clear();
        _expiring.Clear();
    }

    /// <summary>Removes expired keys (what the timer does every 100 ms); at most 10,000 per call.</summary>
    /// <returns>How many were removed.</returns>
    public int RemoveExpired()
    {
        var now = Now;
        var removed = 0;
        var checkedKeys = 0;
        foreach (var (key, _) in _expiring)
        {
            if (++checkedKeys > 10_000)
            {
                break;
            }

            if (_data.TryGetValue(key, out var entry))
            {
                if (entry.IsExpired(now) && Remove(key, entry))
                {
                    removed++;
                }
                else if (entry.ExpiresAt == 0)
                {
                    _expiring.TryRemove(key, out _);
                }
            }
            else
            {
                _expiring.TryRemove(key, out _);
            }
        }

        return removed;
    }

    /// <inheritdoc />
    public void Dispose() => _activeExpiry.Dispose();

    private bool Remove(byte[] key, Entry entry)
    {
        // Only this exact entry: a concurrent SET that replaced it must survive.
        if (_data.TryRemove(new KeyValuePair<byte[], Entry>(key, entry)))
        {
            _expiring.TryRemove(key, out _);
            return true;
        }

        return false;
    }

    private void TrackExpiry(byte[] key, Entry entry)
    {
        if (entry.ExpiresAt != 0)
        {
            _expiring.TryAdd(key, 0);
        }
    }

    private byte[] StoredKey(ReadOnlySpan<byte> key) => _byspan.TryGetValue(key, out var existing, out _) ? existing : key.ToArray();

    /// <summary>A value and its expiry (Unix milliseconds; 0 for none). Immutable.</summary>
    /// <param name="Value">The bytes.</param>
    /// <param name="ExpiresAt">When it expires, or 0.</param>
    public sealed record Entry(byte[] Value, long ExpiresAt)
    {
        /// <summary>Whether it has expired at <paramref name="now"/>.</summary>
        /// <param name="now">Unix milliseconds.</param>
        /// <returns><see langword="true"/> when expired.</returns>
        public bool IsExpired(long now) => ExpiresAt != 0 && ExpiresAt <= now;
    }

    private sealed class KeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly KeyComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> key)
        {
            var hash = default(HashCode);
            hash.AddBytes(key);
            return hash.ToHashCode();
        }
    }
}
