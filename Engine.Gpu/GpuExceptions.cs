namespace ConvEngine.Gpu;

/// <summary>
/// Thrown when a GPU backend cannot be used here: its runtime library is missing, it reports no platform or device,
/// or the requested device index does not exist. The message names what is missing and how to install it.
/// </summary>
public sealed class GpuUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is missing and how to install it.</param>
    /// <param name="inner">The underlying failure, if any.</param>
    public GpuUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A native GPU API call failed: the message carries the API function, the error name and, for builds, the compiler log.</summary>
public sealed class GpuException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="api">The native function that failed, such as <c>clBuildProgram</c>.</param>
    /// <param name="error">The symbolic error name, such as <c>CL_BUILD_PROGRAM_FAILURE</c>.</param>
    /// <param name="code">The numeric error code.</param>
    /// <param name="log">The compiler log for program builds, otherwise null.</param>
    public GpuException(string api, string error, int code, string? log = null)
        : base($"{api} failed: {error} ({code})" + (string.IsNullOrWhiteSpace(log) ? "" : Environment.NewLine + "Build log:" + Environment.NewLine + log))
    {
        Api = api;
        Error = error;
        Code = code;
        Log = log;
    }

    /// <summary>The native function that failed.</summary>
    public string Api { get; }
    /// <summary>The symbolic error name.</summary>
    public string Error { get; }
    /// <summary>The numeric error code.</summary>
    public int Code { get; }
    /// <summary>The compiler log for builds (null otherwise).</summary>
    public string? Log { get; }
}
