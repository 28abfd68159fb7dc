using System.Buffers;
using System.Buffers.Text;
using System.Text;
using PipelineServer.Resp;

namespace KeyValueServer;

/// <summary>
/// The server's commands: enough of Redis for redis-cli, redis-benchmark and StackExchange.Redis. Replies follow
/// Redis's formats and error wording. Handlers run synchronously: the store never blocks.
/// </summary>
public sealed class KeyValueCommands
{
    private const string NotAnInteger = "ERR value is not an integer or out of range";
    private const string Overflow = "ERR increment or decrement would overflow";
    private const string Syntax = "ERR syntax error";
    private const string BadClientName = "ERR Client names cannot contain spaces, newlines or special characters.";

    private static readonly byte[] s_pong = "PONG"u8.ToArray();
    private static readonly byte[] s_version = "7.2.0"u8.ToArray();

    private readonly KeyValueStore _store;
    private readonly RespCommandDispatcher _dispatcher;
    private readonly long _maxValueLength;
    private readonly long _startedAt;

    private KeyValueCommands(KeyValueStore store, RespCommandDispatcher dispatcher, long maxValueLength)
    {
        _store = store;
        _dispatcher = dispatcher;
        _maxValueLength = maxValueLength;
        _startedAt = store.Now;
    }

    /// <summary>Registers every command on a dispatcher.</summary>
    /// <param name="store">The store.</param>
    /// <param name="limits">
    /// The endpoint's limits: their <see cref="RespLimits.MaxBulkLength"/> also bounds what APPEND can build, as Redis's
    /// proto-max-bulk-len does. <see cref="RespLimits.Default"/> when null.
    /// </param>
    /// <returns>The dispatcher.</returns>
    public static RespCommandDispatcher CreateDispatcher(KeyValueStore store, RespLimits? limits = null)
    {
        var dispatcher = new RespCommandDispatcher();
        var commands = new KeyValueCommands(store, dispatcher, (limits ?? RespLimits.Default).MaxBulkLength);
        dispatcher
            .Map("PING", -1, commands.Ping)
            .Map("ECHO", 2, static (context, command) =>
            {
                context.WriteBulkString(command[1]);
                return default;
            })
            .Map("GET", 2, commands.Get)
            .Map("SET", -3, commands.Set)
            .Map("SETNX", 3, commands.SetNx)
            .Map("SETEX", 4, (context, command) => commands.SetEx(context, command, 1000))
            .Map("PSETEX", 4, (context, command) => commands.SetEx(context, command, 1))
            .Map("DEL", -2, commands.Del)
            .Map("UNLINK", -2, commands.Del)
            .Map("EXISTS", -2, commands.Exists)
            .Map("INCR", 2, (context, command) => commands.IncrBy(context, command, 1))
            .Map("DECR", 2, (context, command) => commands.IncrBy(context, command, -1))
            .Map("INCRBY", 3, (context, command) => commands.IncrBy(context, command, ParseInteger(command[2])))
            .Map("DECRBY", 3, (context, command) => commands.IncrBy(context, command, Negate(ParseInteger(command[2]))))
            .Map("MGET", -2, commands.MGet)
            .Map("MSET", -3, commands.MSet)
            .Map("APPEND", 3, commands.Append)
            .Map("STRLEN", 2, commands.StrLen)
            .Map("EXPIRE", 3, (context, command) => commands.Expire(context, command, 1000))
            .Map("PEXPIRE", 3, (context, command) => commands.Expire(context, command, 1))
            .Map("TTL", 2, (context, command) => commands.Ttl(context, command, 1000))
            .Map("PTTL", 2, (context, command) => commands.Ttl(context, command, 1))
            .Map("DBSIZE", 1, (context, _) =>
            {
                context.WriteInteger(commands._store.Count);
                return default;
            })
            .Map("FLUSHDB", -1, commands.Flush)
            .Map("FLUSHALL", -1, commands.Flush)
            .Map("SELECT", 2, Select)
            .Map("INFO", -1, commands.Info)
            .Map("CONFIG", -2, Config)
            .Map("CLIENT", -2, Client)
            .Map("HELLO", -1, commands.Hello)
            .Map("COMMAND", -1, commands.Command)
            .Map("QUIT", -1, static (context, _) =>
            {
                context.WriteOk();
                context.Session.Close();
                return default;
            });
        return dispatcher;
    }

    private ValueTask Ping(RespContext context, RespCommand command)
    {
        switch (command.Count)
        {
            case 1:
                context.WriteSimpleString(s_pong);
                break;
            case 2:
                context.WriteBulkString(command[1]);
                break;
            default:
                context.WriteError("ERR wrong number of arguments for 'ping' command");
                break;
        }

        return default;
    }

    private ValueTask Get(RespContext context, RespCommand command)
    {
        Span<byte> scratch = stackalloc byte[256];
        if (_store.TryGet(Key(command[1], scratch), out var entry))
        {
            context.WriteBulkString(entry.Bytes);
        }
        else
        {
            context.WriteNull();
        }

        return default;
    }

    // SET key value [NX | XX] [EX seconds | PX milliseconds | EXAT | PXAT | KEEPTTL] [GET]
    private ValueTask Set(RespContext context, RespCommand command)
    {
        var condition = 0; // 1 NX, 2 XX
        var unit = 0; // 1 EX, 2 PX, 3 EXAT, 4 PXAT
        var amount = default(ReadOnlySequence<byte>);
        var keepTtl = false;
        var get = false;
        var key = command[1];
        var value = command[2];
        var arguments = command.ArgumentsFrom(3); // the options after the value
        while (arguments.MoveNext())
        {
            var option = arguments.Current;
            if (RespCommand.EqualsIgnoreCase(option, "NX"u8) && condition == 0)
            {
                condition = 1;
            }
            else if (RespCommand.EqualsIgnoreCase(option, "XX"u8) && condition == 0)
            {
                condition = 2;
            }
            else if (RespCommand.EqualsIgnoreCase(option, "GET"u8))
            {
                get = true;
            }
            else if (RespCommand.EqualsIgnoreCase(option, "KEEPTTL"u8) && unit == 0)
            {
                keepTtl = true;
            }
            else if (unit == 0 && !keepTtl && ExpiryOption(option) is var expiry and not 0)
            {
                if (!arguments.MoveNext())
                {
                    throw new RespException(Syntax);
                }

                unit = expiry;
                amount = arguments.Current;
            }
            else
            {
                throw new RespException(Syntax);
            }
        }

        // As Redis, the expiry is read once every option is known to be valid: a syntax error wins over a bad number.
        long expiresAt = 0;
        if (unit != 0 && !TryExpiresAt(unit, ParseInteger(amount), _store.Now, out expiresAt))
        {
            throw new RespException("ERR invalid expire time in 'set' command");
        }

        Span<byte> scratch = stackalloc byte[256];
        if (condition == 0 && expiresAt == 0 && !keepTtl && !get)
        {
            // Plain SET (what redis-benchmark sends): no condition and no old value to look at, so one store lookup.
            _store.Set(Key(key, scratch), new KeyValueStore.Entry(value, 0));
            context.WriteOk();
            return default;
        }

        var (before, after) = _store.Update(
            Key(key, scratch),
            (condition, value, expiresAt, keepTtl),
            static (current, state) =>
            {
                if ((state.condition == 1 && current is not null) || (state.condition == 2 && current is null))
                {
                    return null;
                }

                var expiry = state.keepTtl && current is { } live ? live.ExpiresAt : state.expiresAt;
                return new KeyValueStore.Entry(state.value, expiry);
            });

        if (get)
        {
            if (before is null)
            {
                context.WriteNull();
            }
            else
            {
                context.WriteBulkString(before.Value.Bytes);
            }
        }
        else if (after is not { } written || (before is { } previous && written.IsSameAs(previous)))
        {
            context.WriteNull(); // NX/XX condition not met
        }
        else
        {
            context.WriteOk();
        }

        return default;
    }

    // SETEX key seconds value, PSETEX key milliseconds value
    private ValueTask SetEx(RespContext context, RespCommand command, long unitMs)
    {
        if (!TryExpiresAt(unitMs == 1 ? 2 : 1, ParseInteger(command[2]), _store.Now, out var expiresAt))
        {
            throw new RespException($"ERR invalid expire time in '{(unitMs == 1 ? "psetex" : "setex")}' command");
        }

        Span<byte> scratch = stackalloc byte[256];
        _store.Set(Key(command[1], scratch), new KeyValueStore.Entry(command[3], expiresAt));
        context.WriteOk();
        return default;
    }

    private ValueTask SetNx(RespContext context, RespCommand command)
    {
        Span<byte> scratch = stackalloc byte[256];
        var (before, after) = _store.Update(Key(command[1], scratch), command[2], static (current, value) =>
            current is null ? new KeyValueStore.Entry(value, 0) : null);
        context.WriteInteger(before is null && after is not null ? 1 : 0);
        return default;
    }

    private ValueTask Del(RespContext context, RespCommand command)
    {
        var removed = 0;
        Span<byte> scratch = stackalloc byte[256];
        foreach (var key in command.ArgumentsFrom(1))
        {
            removed += _store.Delete(Key(key, scratch)) ? 1 : 0;
        }

        context.WriteInteger(removed);
        return default;
    }

    private ValueTask Exists(RespContext context, RespCommand command)
    {
        var found = 0;
        Span<byte> scratch = stackalloc byte[256];
        foreach (var key in command.ArgumentsFrom(1))
        {
            found += _store.TryGet(Key(key, scratch), out _) ? 1 : 0;
        }

        context.WriteInteger(found);
        return default;
    }

    private ValueTask IncrBy(RespContext context, RespCommand command, long delta)
    {
        Span<byte> scratch = stackalloc byte[256];
        var (_, after) = _store.Update(Key(command[1], scratch), delta, static (current, delta) =>
        {
            long value = 0;
            if (current is { } live && !TryParseInteger(live.Bytes.Span, out value))
            {
                throw new RespException(NotAnInteger);
            }

            if (delta > 0 ? value > long.MaxValue - delta : value < long.MinValue - delta)
            {
                throw new RespException(Overflow);
            }

            var next = value + delta;
            Span<byte> text = stackalloc byte[20];
            Utf8Formatter.TryFormat(next, text, out var written);
            return new KeyValueStore.Entry(text[..written], current?.ExpiresAt ?? 0);
        });

        Utf8Parser.TryParse(after!.Value.Bytes.Span, out long result, out _);
        context.WriteInteger(result);
        return default;
    }

    private ValueTask MGet(RespContext context, RespCommand command)
    {
        context.WriteArray(command.Count - 1);
        Span<byte> scratch = stackalloc byte[256];
        var keys = command.ArgumentsFrom(1);
        while (keys.MoveNext())
        {
            WriteValueOf(context, keys.Current, scratch);
            if (!context.Session.Writer.IsWritable)
            {
                // The reply has passed the connection's output high-water mark: the rest waits for the peer to take
                // what is written, so that one MGET of large values stays within the connection's output bound
                // (OutputBoundTests.AnMGetLargerThanTheOutputLimitReachesAReadingClientWhole).
                return MGetRestAsync(context, keys);
            }
        }

        return default;
    }

    private async ValueTask MGetRestAsync(RespContext context, RespCommand.ArgumentEnumerator keys)
    {
        var scratch = new byte[256];
        await context.Session.FlushAsync().ConfigureAwait(false);
        while (keys.MoveNext())
        {
            WriteValueOf(context, keys.Current, scratch);
            if (!context.Session.Writer.IsWritable)
            {
                await context.Session.FlushAsync().ConfigureAwait(false);
            }
        }
    }

    private void WriteValueOf(RespContext context, in ReadOnlySequence<byte> key, Span<byte> scratch)
    {
        if (_store.TryGet(Key(key, scratch), out var entry))
        {
            context.WriteBulkString(entry.Bytes);
        }
        else
        {
            context.WriteNull();
        }
    }

    private ValueTask MSet(RespContext context, RespCommand command)
    {
        if (command.Count % 2 == 0)
        {
            throw new RespException("ERR wrong number of arguments for 'mset' command");
        }

        var arguments = command.ArgumentsFrom(1);
        Span<byte> scratch = stackalloc byte[256];
        while (arguments.MoveNext())
        {
            var key = arguments.Current;
            arguments.MoveNext();
            _store.Set(Key(key, scratch), new KeyValueStore.Entry(arguments.Current, 0));
        }

        context.WriteOk();
        return default;
    }

    private ValueTask Append(RespContext context, RespCommand command)
    {
        Span<byte> scratch = stackalloc byte[256];
        var length = _store.Append(Key(command[1], scratch), command[2], _maxValueLength);
        if (length < 0)
        {
            throw new RespException("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        }

        context.WriteInteger(length);
        return default;
    }

    private ValueTask StrLen(RespContext context, RespCommand command)
    {
        Span<byte> scratch = stackalloc byte[256];
        context.WriteInteger(_store.TryGet(Key(command[1], scratch), out var entry) ? entry.Bytes.Length : 0);
        return default;
    }

    private ValueTask Expire(RespContext context, RespCommand command, long unitMs)
    {
        var now = _store.Now;
        if (!TryExpiresAt(unitMs == 1 ? 2 : 1, ParseInteger(command[2]), now, out var expiresAt, allowPast: true))
        {
            throw new RespException($"ERR invalid expire time in '{(unitMs == 1 ? "pexpire" : "expire")}' command");
        }

        Span<byte> scratch = stackalloc byte[256];
        var key = Key(command[1], scratch);
        if (expiresAt <= now)
        {
            // Redis deletes a key given a past expiry.
            context.WriteInteger(_store.Delete(key) ? 1 : 0);
            return default;
        }

        var (before, _) = _store.Update(key, expiresAt, static (current, expiresAt) => current is { } live ? live.WithExpiry(expiresAt) : null);
        context.WriteInteger(before is null ? 0 : 1);
        return default;
    }

    private ValueTask Ttl(RespContext context, RespCommand command, long unitMs)
    {
        Span<byte> scratch = stackalloc byte[256];
        if (!_store.TryGet(Key(command[1], scratch), out var entry))
        {
            context.WriteInteger(-2);
        }
        else if (entry.ExpiresAt == 0)
        {
            context.WriteInteger(-1);
        }
        else
        {
            var left = entry.ExpiresAt - _store.Now;
            context.WriteInteger(unitMs == 1 ? left : (left + 500) / 1000);
        }

        return default;
    }

    private ValueTask Flush(RespContext context, RespCommand command)
    {
        _store.Clear();
        context.WriteOk();
        return default;
    }

    private static ValueTask Select(RespContext context, RespCommand command)
    {
        var index = ParseInteger(command[1]);
        if (index is < int.MinValue or > int.MaxValue)
        {
            throw new RespException("ERR value is out of range, value must between -2147483648 and 2147483647");
        }

        if (index != 0)
        {
            throw new RespException("ERR DB index is out of range");
        }

        context.WriteOk();
        return default;
    }

    private ValueTask Info(RespContext context, RespCommand command)
    {
        var uptime = (_store.Now - _startedAt) / 1000;
        var text = $"# Server\r\nredis_version:7.2.0\r\nredis_mode:standalone\r\nserver_name:pipelineserver-kv\r\nos:{Environment.OSVersion}\r\n" +
            $"process_id:{Environment.ProcessId}\r\nuptime_in_seconds:{uptime}\r\n\r\n# Clients\r\nconnected_clients:1\r\n\r\n" +
            $"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n# Keyspace\r\n" +
            (_store.Count > 0 ? $"db0:keys={_store.Count},expires={_store.ExpiringCount},avg_ttl=0\r\n" : string.Empty);
        context.WriteVerbatimText(Encoding.UTF8.GetBytes(text));
        return default;
    }

    // CONFIG GET parameter [parameter ...]: the few settings clients ask for, so they can tell what they are talking to.
    private static ValueTask Config(RespContext context, RespCommand command)
    {
        if (!RespCommand.EqualsIgnoreCase(command[1], "GET"u8))
        {
            throw new RespException($"ERR unknown subcommand '{Encoding.UTF8.GetString(command[1])}'. Try CONFIG HELP.");
        }

        if (command.Count < 3)
        {
            throw new RespException("ERR wrong number of arguments for 'config|get' command");
        }

        var matches = new List<(string, string)>();
        foreach (var pattern in command.ArgumentsFrom(2))
        {
            var text = Encoding.UTF8.GetString(pattern).ToLowerInvariant();
            foreach (var (name, value) in s_settings)
            {
                if ((text == "*" || text == name) && !matches.Contains((name, value)))
                {
                    matches.Add((name, value));
                }
            }
        }

        context.WriteMap(matches.Count);
        foreach (var (name, value) in matches)
        {
            context.WriteBulkString(Encoding.UTF8.GetBytes(name));
            context.WriteBulkString(Encoding.UTF8.GetBytes(value));
        }

        return default;
    }

    private static readonly (string Name, string Value)[] s_settings =
    [
        ("save", string.Empty), ("appendonly", "no"), ("databases", "1"), ("maxmemory", "0"), ("timeout", "0"),
    ];

    private static ValueTask Client(RespContext context, RespCommand command)
    {
        var sub = command[1];
        if (RespCommand.EqualsIgnoreCase(sub, "SETNAME"u8) && command.Count == 3)
        {
            context.ClientName = ClientName(command[2]);
            context.WriteOk();
        }
        else if (RespCommand.EqualsIgnoreCase(sub, "GETNAME"u8) && command.Count == 2)
        {
            if (context.ClientName is null)
            {
                context.WriteNull();
            }
            else
            {
                context.WriteBulkString(Encoding.UTF8.GetBytes(context.ClientName));
            }
        }
        else if (RespCommand.EqualsIgnoreCase(sub, "ID"u8) && command.Count == 2)
        {
            context.WriteInteger(context.ClientId);
        }
        else if (RespCommand.EqualsIgnoreCase(sub, "SETINFO"u8) && command.Count == 4)
        {
            context.WriteOk(); // library name and version, which StackExchange.Redis and redis-py send
        }
        else
        {
            throw new RespException($"ERR unknown subcommand or wrong number of arguments for '{Encoding.UTF8.GetString(sub)}'. Try CLIENT HELP.");
        }

        return default;
    }

    // HELLO [protover [AUTH username password] [SETNAME clientname]]
    private ValueTask Hello(RespContext context, RespCommand command)
    {
        var version = context.ProtocolVersion;
        var name = context.ClientName;
        if (command.Count > 1)
        {
            if (!TryParseInteger(command[1], out var requested))
            {
                throw new RespException("ERR Protocol version is not an integer or out of range");
            }

            if (requested is not (2 or 3))
            {
                throw new RespException("NOPROTO unsupported protocol version");
            }

            version = (int)requested;
            for (var i = 2; i < command.Count; i++)
            {
                var option = command[i];
                var more = command.Count - 1 - i;
                if (RespCommand.EqualsIgnoreCase(option, "AUTH"u8) && more >= 2)
                {
                    // No users configured: like Redis without requirepass, any credentials for the default user pass.
                    i += 2;
                }
                else if (RespCommand.EqualsIgnoreCase(option, "SETNAME"u8) && more >= 1)
                {
                    name = ClientName(command[++i]);
                }
                else
                {
                    throw new RespException($"ERR Syntax error in HELLO option '{Encoding.UTF8.GetString(option)}'");
                }
            }
        }

        // Nothing changes unless every option was valid.
        context.ProtocolVersion = version;
        context.ClientName = name;
        context.WriteMap(7);
        context.WriteBulkString("server"u8.ToArray());
        context.WriteBulkString("redis"u8.ToArray());
        context.WriteBulkString("version"u8.ToArray());
        context.WriteBulkString(s_version);
        context.WriteBulkString("proto"u8.ToArray());
        context.WriteInteger(version);
        context.WriteBulkString("id"u8.ToArray());
        context.WriteInteger(context.ClientId);
        context.WriteBulkString("mode"u8.ToArray());
        context.WriteBulkString("standalone"u8.ToArray());
        context.WriteBulkString("role"u8.ToArray());
        context.WriteBulkString("master"u8.ToArray());
        context.WriteBulkString("modules"u8.ToArray());
        context.WriteArray(0);
        return default;
    }

    // COMMAND, COMMAND COUNT, COMMAND INFO name..., COMMAND DOCS: enough for clients that ask what the server supports.
    private ValueTask Command(RespContext context, RespCommand command)
    {
        var names = _dispatcher.Commands;
        if (command.Count == 1)
        {
            context.WriteArray(names.Count);
            foreach (var name in names)
            {
                WriteCommandInfo(context, name);
            }
        }
        else if (RespCommand.EqualsIgnoreCase(command[1], "COUNT"u8))
        {
            context.WriteInteger(names.Count);
        }
        else if (RespCommand.EqualsIgnoreCase(command[1], "INFO"u8))
        {
            context.WriteArray(command.Count - 2);
            foreach (var argument in command.ArgumentsFrom(2))
            {
                var name = Encoding.UTF8.GetString(argument).ToUpperInvariant();
                if (_dispatcher.IsRegistered(name))
                {
                    WriteCommandInfo(context, name);
                }
                else
                {
                    context.WriteNullArray();
                }
            }
        }
        else if (RespCommand.EqualsIgnoreCase(command[1], "DOCS"u8))
        {
            context.WriteMap(0);
        }
        else
        {
            throw new RespException($"ERR unknown subcommand '{Encoding.UTF8.GetString(command[1])}'. Try COMMAND HELP.");
        }

        return default;
    }

    private void WriteCommandInfo(RespContext context, string name)
    {
        var keyed = name is "GET" or "SET" or "DEL" or "EXISTS" or "INCR" or "DECR" or "INCRBY" or "DECRBY" or "MGET" or "MSET"
            or "APPEND" or "STRLEN" or "EXPIRE" or "PEXPIRE" or "TTL" or "PTTL";
        var lastKey = name switch { "DEL" or "EXISTS" or "MGET" or "MSET" => -1, _ => keyed ? 1 : 0 };
        context.WriteArray(6);
        context.WriteBulkString(Encoding.UTF8.GetBytes(name.ToLowerInvariant()));
        context.WriteInteger(_dispatcher.ArityOf(name));
        context.WriteSet(0);
        context.WriteInteger(keyed ? 1 : 0);
        context.WriteInteger(lastKey);
        context.WriteInteger(name == "MSET" ? 2 : keyed ? 1 : 0);
    }

    private static int ExpiryOption(in ReadOnlySequence<byte> option) =>
        RespCommand.EqualsIgnoreCase(option, "EX"u8) ? 1
        : RespCommand.EqualsIgnoreCase(option, "PX"u8) ? 2
        : RespCommand.EqualsIgnoreCase(option, "EXAT"u8) ? 3
        : RespCommand.EqualsIgnoreCase(option, "PXAT"u8) ? 4
        : 0;

    // Redis's checked conversions of an expiry to a Unix time in milliseconds (setGenericCommand, expireGenericCommand):
    // unit 1 is seconds from now (EX, SETEX, EXPIRE), 2 milliseconds from now (PX, PSETEX, PEXPIRE), 3 Unix seconds
    // (EXAT), 4 Unix milliseconds (PXAT). False when the amount is not positive (unless allowPast: EXPIRE deletes the key
    // then) or the time overflows 64-bit milliseconds; Redis answers both with "invalid expire time".
    private static bool TryExpiresAt(int unit, long amount, long now, out long expiresAt, bool allowPast = false)
    {
        expiresAt = 0;
        if (amount <= 0 && !allowPast)
        {
            return false;
        }

        if (unit is 1 or 3)
        {
            if (amount is > long.MaxValue / 1000 or < long.MinValue / 1000)
            {
                return false;
            }

            amount *= 1000;
        }

        if (unit is 1 or 2)
        {
            if (amount > long.MaxValue - now)
            {
                return false;
            }

            amount += now;
        }

        expiresAt = amount;
        return true;
    }

    private static long Negate(long amount) =>
        amount == long.MinValue ? throw new RespException("ERR decrement would overflow") : -amount; // Redis's DECRBY wording

    private static long ParseInteger(in ReadOnlySequence<byte> argument) =>
        TryParseInteger(argument, out var value) ? value : throw new RespException(NotAnInteger);

    private static bool TryParseInteger(in ReadOnlySequence<byte> argument, out long value)
    {
        value = 0;
        if (argument.Length is 0 or > 20)
        {
            return false;
        }

        Span<byte> buffer = stackalloc byte[20];
        argument.CopyTo(buffer);
        return TryParseInteger(buffer[..(int)argument.Length], out value);
    }

    // What Redis takes for an integer (string2ll): an optional '-', then decimal digits without a leading zero ("0"
    // alone is zero), within 64 bits. So "+1", " 1", "01", "-0" and "1.0" are not integers, as redis-server answers.
    private static bool TryParseInteger(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.Length is 0 or > 20)
        {
            return false;
        }

        if (text is [(byte)'0'])
        {
            return true;
        }

        var negative = text[0] == '-';
        var digits = negative ? text[1..] : text;
        if (digits.IsEmpty || digits[0] is < (byte)'1' or > (byte)'9')
        {
            return false;
        }

        ulong magnitude = 0;
        foreach (var character in digits)
        {
            var digit = (uint)(character - '0');
            if (digit > 9 || magnitude > (ulong.MaxValue - digit) / 10)
            {
                return false;
            }

            magnitude = (magnitude * 10) + digit;
        }

        if (magnitude > (negative ? (ulong)long.MaxValue + 1 : long.MaxValue))
        {
            return false;
        }

        value = negative ? unchecked((long)(0 - magnitude)) : (long)magnitude;
        return true;
    }

    // Redis's rule for a client name (CLIENT SETNAME, HELLO SETNAME): printable ASCII without spaces; empty clears it.
    private static string? ClientName(in ReadOnlySequence<byte> argument)
    {
        foreach (var segment in argument)
        {
            foreach (var character in segment.Span)
            {
                if (character is < (byte)'!' or > (byte)'~')
                {
                    throw new RespException(BadClientName);
                }
            }
        }

        return argument.IsEmpty ? null : Encoding.ASCII.GetString(argument);
    }

    private static ReadOnlySpan<byte> Key(in ReadOnlySequence<byte> argument, Span<byte> scratch)
    {
        if (argument.IsSingleSegment)
        {
            return argument.FirstSpan;
        }

        if (argument.Length <= scratch.Length)
        {
            argument.CopyTo(scratch);
            return scratch[..(int)argument.Length];
        }

        return argument.ToArray();
    }
}
