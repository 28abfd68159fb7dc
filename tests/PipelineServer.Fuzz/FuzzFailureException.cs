namespace PipelineServer.Fuzz;

/// <summary>
/// A parser broke one of its promises on some input: the fuzzer reports it as a crash, and the corpus tests fail on it.
/// Thrown by the targets' own checks; any other exception that escapes a target (not a protocol error) is a finding too.
/// </summary>
public sealed class FuzzFailureException : Exception
{
    public FuzzFailureException(string message)
        : base(message)
    {
    }

    public FuzzFailureException()
        : base("A fuzz target's check failed.")
    {
    }

    public FuzzFailureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
