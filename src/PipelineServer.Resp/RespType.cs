namespace PipelineServer.Resp;

/// <summary>The RESP data types, as their type bytes. RESP2 has the first five; RESP3 adds the rest.</summary>
public enum RespType : byte
{
    /// <summary>Not a value (the default).</summary>
    None = 0,

    /// <summary><c>+OK\r\n</c></summary>
    SimpleString = (byte)'+',

    /// <summary><c>-ERR message\r\n</c></summary>
    SimpleError = (byte)'-',

    /// <summary><c>:42\r\n</c></summary>
    Integer = (byte)':',

    /// <summary><c>$5\r\nhello\r\n</c>; <c>$-1\r\n</c> is RESP2's null.</summary>
    BulkString = (byte)'$',

    /// <summary><c>*2\r\n...</c>; <c>*-1\r\n</c> is RESP2's null array.</summary>
    Array = (byte)'*',

    /// <summary>RESP3 <c>_\r\n</c>.</summary>
    Null = (byte)'_',

    /// <summary>RESP3 <c>#t\r\n</c> / <c>#f\r\n</c>.</summary>
    Boolean = (byte)'#',

    /// <summary>RESP3 <c>,3.14\r\n</c> (also <c>inf</c>, <c>-inf</c>, <c>nan</c>).</summary>
    Double = (byte)',',

    /// <summary>RESP3 <c>(3492890328409238509324850943850943825024385\r\n</c>.</summary>
    BigNumber = (byte)'(',

    /// <summary>RESP3 <c>!21\r\nSYNTAX invalid syntax\r\n</c>.</summary>
    BulkError = (byte)'!',

    /// <summary>RESP3 <c>=15\r\ntxt:Some string\r\n</c>: a three-letter format, a colon, the text.</summary>
    VerbatimString = (byte)'=',

    /// <summary>RESP3 <c>%2\r\n</c> followed by two key/value pairs.</summary>
    Map = (byte)'%',

    /// <summary>RESP3 <c>~3\r\n...</c>.</summary>
    Set = (byte)'~',

    /// <summary>RESP3 <c>|1\r\n</c> key/value pairs describing the value that follows.</summary>
    Attribute = (byte)'|',

    /// <summary>RESP3 <c>&gt;3\r\n...</c>: out-of-band data (pub/sub messages, invalidations).</summary>
    Push = (byte)'>',
}
