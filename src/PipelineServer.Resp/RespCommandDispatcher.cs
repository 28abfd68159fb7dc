using System.Buffers;
using System.Text;
using PipelineServer.Protocols;

namespace PipelineServer.Resp;

/// <summary>Handles one command. Reply through the context; throw <see cref="RespException"/> for an error reply.</summary>
/// <param name="context">The client connection.</param>
/// <param name="command">The command; its arguments are valid only until the returned task completes.</param>
/// <returns>A task that completes when the command is handled (usually already completed).</returns>
public delegate ValueTask RespCommandHandler(RespContext context, RespCommand command);

/// <summary>
/// Dispatches RESP commands to handlers registered by name (case-insensitive), checking arity first, and answers
/// unknown commands and wrong arities with Redis's own error wording, so clients show familiar messages. Looking a
/// command up allocates nothing. One instance serves every connection of an endpoint.
/// </summary>
public sealed class RespCommandDispatcher : IMessageHandler<RespCommand, RespValue>
{
    private const int MaxNameLength = 64;

    private readonly Dictionary<string, Registration> _commands = new(StringComparer.Ordinal);
    private Dictionary<string, Registration>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    /// <summary>Creates an empty dispatcher.</summary>
    public RespCommandDispatcher() => _lookup = _commands.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The registered command names, upper case.</summary>
    public IReadOnlyCollection<string> Commands => _commands.Keys;

    /// <summary>Registers a command. Register every command before the server starts.</summary>
    /// <param name="name">The name, any case.</param>
    /// <param name="arity">
    /// Redis's convention: N &gt; 0 means exactly N arguments, the name included (<c>GET key</c> is 2); -N means at
    /// least N (<c>SET key value [options]</c> is -3).
    /// </param>
    /// <param name="handler">The handler.</param>
    /// <returns>This dispatcher.</returns>
    public RespCommandDispatcher Map(string name, int arity, RespCommandHandler handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(handler);
        if (arity == 0 || name.Length > MaxNameLength || !Ascii.IsValid(name))
        {
            throw new ArgumentException("A command has an ASCII name of at most 64 characters and a non-zero arity.", nameof(name));
        }

        _commands[name.ToUpperInvariant()] = new Registration(arity, handler);
        _lookup = _commands.GetAlternateLookup<ReadOnlySpan<char>>();
        return this;
    }

    /// <summary>Whether a command is registered under this name, any case.</summary>
    /// <param name="name">The name.</param>
    /// <returns><see langword="true"/> when it is.</returns>
    public bool IsRegistered(string name) => _commands.ContainsKey(name.ToUpperInvariant());

    /// <summary>The arity a command was registered with.</summary>
    /// <param name="name">The name.</param>
    /// <returns>The arity, or 0 when unknown.</returns>
    public int ArityOf(string name) => _commands.TryGetValue(name.ToUpperInvariant(), out var registration) ? registration.Arity : 0;

    /// <inheritdoc />
    public ValueTask OnConnectedAsync(ProtocolSession<RespValue> session)
    {
        session.State = new RespContext(session);
        return default;
    }

    /// <inheritdoc />
    public ValueTask OnMessageAsync(ProtocolSession<RespValue> session, RespCommand command)
    {
        if (command.Count == 0)
        {
            return default; // an empty line or "*0": ignored, as Redis does
        }

        var context = (RespContext)session.State!;
        var name = command.Name;
        Span<char> upper = stackalloc char[MaxNameLength];
        if (name.Length > MaxNameLength || !TryUpper(name, upper, out var length) || !_lookup.TryGetValue(upper[..length], out var registration))
        {
            context.WriteError(UnknownCommand(command));
            return default;
        }

        if (registration.Arity > 0 ? command.Count != registration.Arity : command.Count < -registration.Arity)
        {
            context.WriteError($"ERR wrong number of arguments for '{Encoding.UTF8.GetString(name).ToLowerInvariant()}' command");
            return default;
        }

        ValueTask handled;
        try
        {
            handled = registration.Handler(context, command);
        }
        catch (RespException ex)
        {
            context.WriteError(ex.Message);
            return default;
        }

        return handled.IsCompletedSuccessfully ? default : AwaitHandlerAsync(handled, context);
    }

    /// <inheritdoc />
    public ValueTask OnProtocolErrorAsync(ProtocolSession<RespValue> session, ProtocolException error)
    {
        // Redis answers a protocol error with "-ERR Protocol error: ..." and closes the connection.
        var context = (RespContext?)session.State;
        var reason = error.Message.StartsWith("RESP protocol error: ", StringComparison.Ordinal) ? error.Message["RESP protocol error: ".Length..] : error.Message;
        context?.WriteError("ERR Protocol error: " + reason);
        return default;
    }

    private static async ValueTask AwaitHandlerAsync(ValueTask handled, RespContext context)
    {
        try
        {
            await handled.ConfigureAwait(false);
        }
        catch (RespException ex)
        {
            context.WriteError(ex.Message);
        }
    }

    private static bool TryUpper(in ReadOnlySequence<byte> name, Span<char> destination, out int length)
    {
        length = 0;
        foreach (var segment in name)
        {
            foreach (var b in segment.Span)
            {
                if (b >= 0x80)
                {
                    return false;
                }

                destination[length++] = (char)(b is >= (byte)'a' and <= (byte)'z' ? b - 32 : b);
            }
        }

        return true;
    }

    // Redis: "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    private static string UnknownCommand(RespCommand command)
    {
        var text = new StringBuilder("ERR unknown command '").Append(Printable(command.Name)).Append("', with args beginning with: ");
        foreach (var argument in command.ArgumentsFrom(1))
        {
            if (text.Length > 256)
            {
                break;
            }

            text.Append('\'').Append(Printable(argument)).Append("' ");
        }

        return text.ToString();
    }

    private static string Printable(in ReadOnlySequence<byte> bytes)
    {
        var text = Encoding.UTF8.GetString(bytes.Length > 128 ? bytes.Slice(0, 128) : bytes);
        return text.Replace('\r', ' ').Replace('\n', ' ');
    }

    private sealed record Registration(int Arity, RespCommandHandler Handler);
}
