using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace KeyValueServer;

/// <summary>
/// A thread-safe in-memory string store with expiry, lazy (an expired key reads as missing and is removed on access) and
/// active (a timer removes expired keys that nobody reads). Keys are looked up by span, so a GET allocates nothing.
/// Entries are immutable and replaced with compare-and-swap, so updates from many cores never lock. An entry is one
/// array, its expiry and then its bytes, so a read follows one reference from the dictionary's node instead of two.
/// </summary>
public sealed class KeyValueStore : IDisposable
{
    private readonly ConcurrentDictionary<byte[], byte[]> _data = new(KeyComparer.Instance);
    private readonly ConcurrentDictionary<byte[], byte[]>.AlternateLookup<ReadOnlySpan<byte>> _byspan;
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
    public bool TryGet(ReadOnlySpan<byte> key, out Entry entry)
    {
        if (_byspan.TryGetValue(key, out var stored, out var raw))
        {
            entry = new Entry(raw);
            if (!IsExpired(entry))
            {
                return true;
            }

            Remove(stored, raw);
        }

        entry = default;
        return false;
    }

    /// <summary>Sets a key unconditionally.</summary>
    /// <param name="key">The key (copied when it is new).</param>
    /// <param name="entry">The new entry.</param>
    public void Set(ReadOnlySpan<byte> key, Entry entry)
    {
        if (entry.ExpiresAt == 0)
        {
            // One lookup, which copies the key only when it is new (the comparer's Create).
            _byspan[key] = entry.Raw;
            return;
        }

        var stored = StoredKey(key);
        _data[stored] = entry.Raw;
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
            if (_byspan.TryGetValue(key, out var stored, out var raw))
            {
                var current = new Entry(raw);
                Entry? live = IsExpired(current) ? null : current;
                var next = update(live, state);
                if (next is not { } replacement)
                {
                    return (live, live);
                }

                if (_data.TryUpdate(stored, replacement.Raw, raw))
                {
                    TrackExpiry(stored, replacement);
                    return (live, replacement);
                }
            }
            else
            {
                var next = update(null, state);
                if (next is not { } added)
                {
                    return (null, null);
                }

                // The lookup above found no key, so this is a new one: copy it (a racing add makes TryAdd fail and retry).
                var addedKey = key.ToArray();
                if (_data.TryAdd(addedKey, added.Raw))
                {
                    TrackExpiry(addedKey, added);
                    return (null, added);
                }
            }
        }
    }

    /// <summary>Removes a key.</summary>
    /// <param name="key">The key.</param>
    /// <returns>Whether a live key was removed.</returns>
    public bool Delete(ReadOnlySpan<byte> key)
    {
        if (_byspan.TryRemove(key, out var stored, out var raw))
        {
            _expiring.TryRemove(stored, out _);
            return !IsExpired(new Entry(raw));
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

            if (_data.TryGetValue(key, out var raw))
            {
                var entry = new Entry(raw);
                if (entry.IsExpired(now) && Remove(key, raw))
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

    // The clock is read only for a key that has an expiry: most have none, and a GET should not pay for a clock read.
    private bool IsExpired(Entry entry) => entry.ExpiresAt != 0 && entry.ExpiresAt <= Now;

    private bool Remove(byte[] key, byte[] raw)
    {
        // Only this exact entry (compared by reference): a concurrent SET that replaced it must survive.
        if (_data.TryRemove(new KeyValuePair<byte[], byte[]>(key, raw)))
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

    /// <summary>
    /// A value and its expiry (Unix milliseconds; 0 for none), held in one array: eight bytes of expiry, then the value.
    /// Immutable: a change makes a new entry.
    /// </summary>
    public readonly struct Entry
    {
        private const int Header = sizeof(long);

        /// <summary>Creates an entry, copying <paramref name="value"/>.</summary>
        /// <param name="value">The bytes.</param>
        /// <param name="expiresAt">When it expires (Unix milliseconds), or 0.</param>
        public Entry(ReadOnlySpan<byte> value, long expiresAt)
        {
            Raw = Allocate(value.Length, expiresAt);
            value.CopyTo(Raw.AsSpan(Header));
        }

        /// <summary>Creates an entry, copying <paramref name="value"/> (a command argument, straight from the pipe).</summary>
        /// <param name="value">The bytes.</param>
        /// <param name="expiresAt">When it expires (Unix milliseconds), or 0.</param>
        public Entry(in ReadOnlySequence<byte> value, long expiresAt)
        {
            Raw = Allocate(checked((int)value.Length), expiresAt);
            value.CopyTo(Raw.AsSpan(Header));
        }

        /// <summary>Creates an entry from <paramref name="first"/> followed by <paramref name="second"/> (APPEND).</summary>
        /// <param name="first">The leading bytes.</param>
        /// <param name="second">The trailing bytes.</param>
        /// <param name="expiresAt">When it expires (Unix milliseconds), or 0.</param>
        public Entry(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, long expiresAt)
        {
            Raw = Allocate(checked(first.Length + second.Length), expiresAt);
            first.CopyTo(Raw.AsSpan(Header));
            second.CopyTo(Raw.AsSpan(Header + first.Length));
        }

        internal Entry(byte[] raw) => Raw = raw;

        /// <summary>The value's bytes.</summary>
        public ReadOnlyMemory<byte> Bytes => Raw.AsMemory(Header);

        /// <summary>When it expires (Unix milliseconds), or 0 for never.</summary>
        public long ExpiresAt => BinaryPrimitives.ReadInt64LittleEndian(Raw);

        // The stored array; two entries are the same entry when they share it.
        internal byte[] Raw { get; }

        /// <summary>Whether it has expired at <paramref name="now"/>.</summary>
        /// <param name="now">Unix milliseconds.</param>
        /// <returns><see langword="true"/> when expired.</returns>
        public bool IsExpired(long now) => ExpiresAt != 0 && ExpiresAt <= now;

        /// <summary>The same value with another expiry.</summary>
        /// <param name="expiresAt">When it expires (Unix milliseconds), or 0.</param>
        /// <returns>A new entry.</returns>
        public Entry WithExpiry(long expiresAt) => new(Bytes.Span, expiresAt);

        /// <summary>Whether <paramref name="other"/> is this very entry (not merely equal bytes).</summary>
        /// <param name="other">Another entry.</param>
        /// <returns><see langword="true"/> when both hold the same array.</returns>
        public bool IsSameAs(Entry other) => ReferenceEquals(Raw, other.Raw);

        private static byte[] Allocate(int length, long expiresAt)
        {
            var raw = GC.AllocateUninitializedArray<byte>(Header + length);
            BinaryPrimitives.WriteInt64LittleEndian(raw, expiresAt);
            return raw;
        }
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
