using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace KeyValueServer;

/// <summary>
/// A thread-safe in-memory string store with expiry, lazy (an expired key reads as missing and is removed on access) and
/// active (a timer runs <see cref="RunExpiryCycle"/>, which removes expired keys that nobody reads). Keys are looked up by
/// span, so a GET allocates nothing. Entries are replaced with compare-and-swap, so SET and GET never lock. An entry is
/// one array, its expiry and then its bytes, so a read follows one reference from the dictionary's node instead of two.
/// APPEND grows a value with spare capacity and then writes into it in place (see <see cref="Append"/>).
/// </summary>
public sealed class KeyValueStore : IDisposable
{
    // Active expiry after Redis's activeExpireCycle: a cursor walks the keys with an expiry 20 at a time, and a cycle goes
    // on while more than 10% of what it looked at was expired (Redis 7's acceptable stale share), for at most a quarter
    // of the 100 ms period. Unlike Redis, a cycle also looks at no fewer than 1/300 of those keys, so a walk over all of
    // them takes at most 300 cycles (30 s) even when they are all live, and no expired key waits longer than two walks.
    private const int StepKeys = 20;
    private const int AcceptableStalePercent = 10;
    private const int WalkCycles = 300;
    private static readonly TimeSpan s_cyclePeriod = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan s_cycleBudget = TimeSpan.FromMilliseconds(25);

    private readonly ConcurrentDictionary<byte[], byte[]> _data = new(KeyComparer.Instance);
    private readonly ConcurrentDictionary<byte[], byte[]>.AlternateLookup<ReadOnlySpan<byte>> _byspan;

    // The keys that have (or recently had) an expiry: the only ones active expiry looks at.
    private readonly ConcurrentDictionary<byte[], byte> _expiring = new(KeyComparer.Instance);
    private readonly TimeProvider _time;
    private readonly ITimer _activeExpiry;

    // Where the last expiry cycle stopped in _expiring, and the Clear it started after; only the cycle that holds
    // _cycleRunning touches them. (An enumerator walks the table it started on: after Clear that is a dead one.)
    private IEnumerator<KeyValuePair<byte[], byte>>? _cursor;
    private int _cursorClears;
    private int _clears;
    private int _cycleRunning;
    private long _expiryKeysLooked;
    private long _valueGrowths;

    /// <summary>Creates a store.</summary>
    /// <param name="time">The clock (tests use a fake one); the system clock by default.</param>
    public KeyValueStore(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _byspan = _data.GetAlternateLookup<ReadOnlySpan<byte>>();
        _activeExpiry = _time.CreateTimer(static state => ((KeyValueStore)state!).RunExpiryCycle(), this, s_cyclePeriod, s_cyclePeriod);
    }

    /// <summary>The longest value an entry can hold, in bytes.</summary>
    public static int MaxValueLength => Entry.MaxLength;

    /// <summary>The number of keys (expired ones not yet removed included, as Redis's DBSIZE).</summary>
    public int Count => _data.Count;

    /// <summary>The number of keys with an expiry.</summary>
    public int ExpiringCount => _expiring.Count;

    /// <summary>Milliseconds since the Unix epoch, by the store's clock.</summary>
    public long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    // How many times APPEND has moved a value to a bigger array (tests check that growth is amortised).
    internal long ValueGrowths => Volatile.Read(ref _valueGrowths);

    // How many keys active expiry has looked at (tests check its effort).
    internal long ExpiryKeysLooked => Volatile.Read(ref _expiryKeysLooked);

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
                if (Entry.IsGrowableLayout(raw))
                {
                    // APPEND may be writing into this array's spare capacity: hold it still, or the compare-and-swap
                    // below would succeed over an append that the update did not see.
                    lock (raw)
                    {
                        if (TryReplace(stored, raw, state, update, out var result))
                        {
                            return result;
                        }
                    }
                }
                else if (TryReplace(stored, raw, state, update, out var result))
                {
                    return result;
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

    /// <summary>
    /// Appends to a key's value, keeping its expiry (APPEND); a missing or expired key gets <paramref name="suffix"/> as
    /// its value. A value that must grow moves to an array with spare capacity, twice what it needs up to 1 MiB and a
    /// quarter more beyond (as Redis's strings grow, with a bounded share of spare memory past 1 MiB), so later appends
    /// write in place and n appends copy the value O(log n) times instead of n times. Readers see only the value's
    /// length, never the spare bytes; any other write of the key (SET, INCR, EXPIRE) makes an exact-size entry again.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="suffix">The bytes to append.</param>
    /// <param name="maxLength">The longest the value may become.</param>
    /// <returns>The value's new length, or -1 when it would be longer than <paramref name="maxLength"/> (nothing changes).</returns>
    public long Append(ReadOnlySpan<byte> key, in ReadOnlySequence<byte> suffix, long maxLength)
    {
        maxLength = Math.Min(maxLength, Entry.MaxLength);
        while (true)
        {
            if (!_byspan.TryGetValue(key, out var stored, out var raw))
            {
                if (suffix.Length > maxLength)
                {
                    return -1;
                }

                // A new key's value is exactly its size, as Redis makes it; it grows on its first append.
                var added = new Entry(suffix, 0);
                if (_data.TryAdd(key.ToArray(), added.Raw))
                {
                    return added.Length;
                }
            }
            else if (Entry.IsGrowableLayout(raw))
            {
                // Appenders to one array take turns: each writes past the visible length the one before it published.
                lock (raw)
                {
                    if (TryAppend(stored, raw, suffix, maxLength, out var length))
                    {
                        return length;
                    }
                }
            }
            else if (TryAppend(stored, raw, suffix, maxLength, out var length))
            {
                return length;
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
            Untrack(stored);
            return !IsExpired(new Entry(raw));
        }

        return false;
    }

    /// <summary>Removes every key.</summary>
    public void Clear()
    {
        _data.Clear();
        _expiring.Clear();
        Interlocked.Increment(ref _clears);
    }

    /// <summary>
    /// One cycle of active expiry, what the timer runs every 100 ms. A walk over the keys that have an expiry (never the
    /// others), in the dictionary's hash order, goes on from where the last cycle stopped, 20 keys at a time, removing
    /// the expired ones. The cycle looks at 20 keys or 1/300 of the keys with an expiry, whichever is more, then goes on
    /// while more than 10% of the keys it looked at were expired, and stops at the end of the walk (the next cycle starts
    /// a new one) or after 25 ms of the store's clock. So no expired key can hide behind keys that live on, a mostly-live
    /// set costs little, and a walk over all of them takes at most 300 cycles while the 25 ms budget holds.
    /// </summary>
    /// <returns>How many keys it removed (0 when another cycle is still running).</returns>
    public int RunExpiryCycle()
    {
        if (Interlocked.Exchange(ref _cycleRunning, 1) != 0)
        {
            return 0; // a timer tick while a slow cycle still runs
        }

        try
        {
            var started = _time.GetTimestamp();
            var now = Now;
            var least = Math.Max(StepKeys, _expiring.Count / WalkCycles);
            var looked = 0;
            var expired = 0;
            while (ExpiryStep(now, ref looked, ref expired)
                && (looked < least || expired * 100 > looked * AcceptableStalePercent)
                && _time.GetElapsedTime(started) < s_cycleBudget)
            {
            }

            return expired;
        }
        finally
        {
            Volatile.Write(ref _cycleRunning, 0);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _activeExpiry.Dispose();

        // Takes the cycle's flag for good: a cycle still running keeps its cursor, and none runs after this.
        if (Interlocked.Exchange(ref _cycleRunning, 1) == 0)
        {
            _cursor?.Dispose();
            _cursor = null;
        }
    }

    // Looks at the next 20 keys of the walk; false when the walk has ended (the next step starts a new one, which sees
    // every key added since this one started).
    private bool ExpiryStep(long now, ref int looked, ref int expired)
    {
        var clears = Volatile.Read(ref _clears);
        if (_cursor is null || _cursorClears != clears)
        {
            _cursor?.Dispose();
            _cursor = _expiring.GetEnumerator();
            _cursorClears = clears;
        }

        var cursor = _cursor;
        for (var i = 0; i < StepKeys; i++)
        {
            if (!cursor.MoveNext())
            {
                cursor.Dispose();
                _cursor = null;
                return false;
            }

            looked++;
            _expiryKeysLooked++; // written only by the cycle that holds _cycleRunning
            var key = cursor.Current.Key;
            if (!_data.TryGetValue(key, out var raw))
            {
                Untrack(key);
                continue;
            }

            var entry = new Entry(raw);
            if (entry.IsExpired(now))
            {
                expired += Remove(key, raw) ? 1 : 0;
            }
            else if (entry.ExpiresAt == 0)
            {
                Untrack(key); // a plain SET took the expiry away
            }
        }

        return true;
    }

    // The clock is read only for a key that has an expiry: most have none, and a GET should not pay for a clock read.
    private bool IsExpired(Entry entry) => entry.ExpiresAt != 0 && entry.ExpiresAt <= Now;

    private bool TryReplace<TState>(byte[] stored, byte[] raw, TState state, Func<Entry?, TState, Entry?> update, out (Entry? Before, Entry? After) result)
        where TState : allows ref struct
    {
        var current = new Entry(raw);
        Entry? live = IsExpired(current) ? null : current;
        var next = update(live, state);
        if (next is not { } replacement)
        {
            result = (live, live);
            return true;
        }

        if (_data.TryUpdate(stored, replacement.Raw, raw))
        {
            TrackExpiry(stored, replacement);
            result = (live, replacement);
            return true;
        }

        result = default;
        return false;
    }

    // Appends to the entry held in raw: in place when it has room (the caller holds raw's lock), else by replacing it.
    // False when another writer replaced it first: the caller looks the key up again.
    private bool TryAppend(byte[] stored, byte[] raw, in ReadOnlySequence<byte> suffix, long maxLength, out long length)
    {
        var current = new Entry(raw);
        Entry next;
        if (IsExpired(current))
        {
            length = suffix.Length;
            if (length > maxLength)
            {
                length = -1;
                return true;
            }

            next = new Entry(suffix, 0);
        }
        else
        {
            length = current.Length + suffix.Length;
            if (length > maxLength)
            {
                length = -1;
                return true;
            }

            if (suffix.IsEmpty)
            {
                return true;
            }

            if (current.IsGrowable && length <= current.Capacity)
            {
                if (!_data.TryGetValue(stored, out var mapped) || !ReferenceEquals(mapped, raw))
                {
                    return false; // a SET or DEL replaced it; the append goes to whatever is there now
                }

                current.AppendInPlace(suffix);
                return true;
            }

            next = Entry.Grown(current, suffix, GrownCapacity(length, maxLength));
        }

        if (!_data.TryUpdate(stored, next.Raw, raw))
        {
            return false;
        }

        if (next.IsGrowable)
        {
            Interlocked.Increment(ref _valueGrowths);
        }

        TrackExpiry(stored, next);
        return true;
    }

    private static int GrownCapacity(long length, long maxLength)
    {
        const long Doubling = 1024 * 1024;
        var capacity = length < Doubling ? length * 2 : length + (length / 4);
        return (int)Math.Min(capacity, maxLength); // the caller has checked that length fits in maxLength
    }

    private bool Remove(byte[] key, byte[] raw)
    {
        // Only this exact entry (compared by reference): a concurrent SET that replaced it must survive.
        if (_data.TryRemove(new KeyValuePair<byte[], byte[]>(key, raw)))
        {
            Untrack(key);
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

    // Forgets a key's expiry, unless a writer gave the key a new one meanwhile: a SET with EX writes the entry and then
    // tracks it, so looking at the entry after forgetting sees every expiry whose tracking the removal may have undone.
    private void Untrack(byte[] key)
    {
        if (_expiring.TryRemove(key, out _) && _data.TryGetValue(key, out var raw) && new Entry(raw).ExpiresAt != 0)
        {
            _expiring.TryAdd(key, 0);
        }
    }

    private byte[] StoredKey(ReadOnlySpan<byte> key) => _byspan.TryGetValue(key, out var existing, out _) ? existing : key.ToArray();

    /// <summary>
    /// A value and its expiry (Unix milliseconds; 0 for none), held in one array: eight bytes of expiry, then the value.
    /// A value that APPEND grew has a second layout, marked by the expiry word's top bit (an expiry is never negative):
    /// the expiry, the value's length (four bytes), the value, then spare capacity. Readers see only the value; its
    /// bytes never change once visible (an append writes past them, then publishes the longer length).
    /// </summary>
    public readonly struct Entry
    {
        private const int Header = sizeof(long);
        private const int GrowableHeader = sizeof(long) + sizeof(int);
        private const long GrowableFlag = long.MinValue;

        private readonly int _start;

        /// <summary>Creates an entry, copying <paramref name="value"/>.</summary>
        /// <param name="value">The bytes.</param>
        /// <param name="expiresAt">When it expires (Unix milliseconds), or 0.</param>
        public Entry(ReadOnlySpan<byte> value, long expiresAt)
        {
            Raw = Allocate(value.Length, expiresAt);
            _start = Header;
            Length = value.Length;
            value.CopyTo(Raw.AsSpan(Header));
        }

        /// <summary>Creates an entry, copying <paramref name="value"/> (a command argument, straight from the pipe).</summary>
        /// <param name="value">The bytes.</param>
        /// <param name="expiresAt">When it expires (Unix milliseconds), or 0.</param>
        public Entry(in ReadOnlySequence<byte> value, long expiresAt)
        {
            Raw = Allocate(checked((int)value.Length), expiresAt);
            _start = Header;
            Length = (int)value.Length;
            value.CopyTo(Raw.AsSpan(Header));
        }

        internal Entry(byte[] raw)
        {
            Raw = raw;
            if (IsGrowableLayout(raw))
            {
                _start = GrowableHeader;
                Length = Volatile.Read(ref LengthField(raw));
            }
            else
            {
                _start = Header;
                Length = raw.Length - Header;
            }
        }

        /// <summary>The value's bytes.</summary>
        public ReadOnlyMemory<byte> Bytes => Raw.AsMemory(_start, Length);

        /// <summary>The value's length.</summary>
        public int Length { get; }

        /// <summary>When it expires (Unix milliseconds), or 0 for never.</summary>
        public long ExpiresAt => BinaryPrimitives.ReadInt64LittleEndian(Raw) & long.MaxValue;

        // The longest value: the array, its header included, within the runtime's array limit.
        internal static int MaxLength => Array.MaxLength - GrowableHeader;

        // The stored array; two entries are the same entry when they share it.
        internal byte[] Raw { get; }

        // How long the value can grow in place.
        internal int Capacity => Raw.Length - _start;

        internal bool IsGrowable => _start == GrowableHeader;

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

        internal static bool IsGrowableLayout(byte[] raw) => BinaryPrimitives.ReadInt64LittleEndian(raw) < 0;

        // current's value then suffix, in an array with room for capacity bytes of value.
        internal static Entry Grown(Entry current, in ReadOnlySequence<byte> suffix, int capacity)
        {
            var raw = GC.AllocateUninitializedArray<byte>(GrowableHeader + capacity);
            BinaryPrimitives.WriteInt64LittleEndian(raw, current.ExpiresAt | GrowableFlag);
            current.Bytes.Span.CopyTo(raw.AsSpan(GrowableHeader));
            suffix.CopyTo(raw.AsSpan(GrowableHeader + current.Length));
            LengthField(raw) = current.Length + (int)suffix.Length;
            return new Entry(raw);
        }

        // Writes suffix into the spare capacity, then publishes the new length: a reader that sees the length sees the
        // bytes. The caller holds the array's lock and has checked that the suffix fits.
        internal void AppendInPlace(in ReadOnlySequence<byte> suffix)
        {
            suffix.CopyTo(Raw.AsSpan(_start + Length));
            Volatile.Write(ref LengthField(Raw), Length + (int)suffix.Length);
        }

        private static ref int LengthField(byte[] raw) => ref Unsafe.As<byte, int>(ref raw[Header]);

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
