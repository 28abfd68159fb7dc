using PipelineServer.Client.Internal;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Client;

public class PendingRequestTests
{
    [Fact]
    public async Task ReadingAnAlreadyReadResultAgainThrowsAndLeavesTheRequestThatReusedItAlone()
    {
        var owner = new Owner();
        var pending = new PendingRequest<int>(owner, runContinuationsAsynchronously: false);
        pending.Start(id: 1, startedAt: 0);
        var first = pending.Task;
        pending.TrySetResult(1);
        Assert.Equal(1, await first.AsTask().WaitAsync(TestClient.Timeout));
        pending.Release();
        Assert.Equal(1, owner.Returned);

        // Reused by the next request, which is still waiting when the first caller reads its ValueTask a second time.
        pending.Start(id: 2, startedAt: 0);
        var second = pending.Task;
        Assert.Throws<InvalidOperationException>(() => first.Result);
        pending.TrySetResult(2);
        pending.Release();

        Assert.Equal(1, owner.Returned);
        Assert.Equal(2, await second.AsTask().WaitAsync(TestClient.Timeout));
        Assert.Equal(2, owner.Returned);
    }

    private sealed class Owner : IPendingRequestOwner<int>
    {
        public int Returned { get; private set; }

        public void OnCanceled(PendingRequest<int> request, CancellationToken cancellationToken) => throw new InvalidOperationException("Nothing is cancelled here.");

        public void Return(PendingRequest<int> request) => Returned++;
    }
}
