using System.Collections.Concurrent;
using System.Text;

namespace PipelineServer.Tests.Client;

/// <summary>
/// An echo handler that tests can script: "hold:NAME" payloads are answered only when the test releases NAME;
/// "push:TEXT" makes the server push "TEXT" (marked with a leading 0xFF) before answering; "extra" answers twice.
/// </summary>
internal sealed class ScriptedHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
{
    public const byte PushMarker = 0xFF;

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _gates = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _arrived = new();
    private int _received;
    private TaskCompletionSource<int>? _receivedTarget;
    private int _target;

    public int Received => Volatile.Read(ref _received);

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    public void Release(string name) => Gate(name).TrySetResult();

    public Task Arrived(string name) => _arrived.GetOrAdd(name, static _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(Infrastructure.TestClient.Timeout);

    public Task<int> ReceivedAtLeast(int count)
    {
        _target = count;
        var target = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _receivedTarget, target);
        if (Received >= count)
        {
            target.TrySetResult(Received);
        }

        return target.Task.WaitAsync(Infrastructure.TestClient.Timeout);
    }

    public async ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
    {
        var received = Interlocked.Increment(ref _received);
        if (Volatile.Read(ref _receivedTarget) is { } target && received >= _target)
        {
            target.TrySetResult(received);
        }

        var text = message.Length < 64 ? Encoding.UTF8.GetString(message) : string.Empty;
        if (text.StartsWith("hold:", StringComparison.Ordinal))
        {
            var name = text[5..];
            var copy = message.ToArray();
            _arrived.GetOrAdd(name, static _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            await Gate(name).Task.WaitAsync(session.ConnectionClosed);
            session.Write(new ReadOnlySequence<byte>(copy));
            return;
        }

        if (text.StartsWith("push:", StringComparison.Ordinal))
        {
            session.Write(new ReadOnlySequence<byte>([PushMarker, .. Text(text[5..])]));
        }
        else if (text == "extra")
        {
            session.Write(message);
        }

        session.Write(message);
    }

    private TaskCompletionSource Gate(string name) => _gates.GetOrAdd(name, static _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
}
