using System.IO.Pipelines;

namespace PipelineServer.Internal;

internal sealed class ClientDuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
