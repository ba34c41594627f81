using System.Runtime.InteropServices;
using System.Text;
using ReliableKafka.Native.Internal;

namespace ReliableKafka.Configuration.Internal;

/// <summary>
/// Asks the librdkafka that Confluent.Kafka loads whether it accepts a setting, without creating a client:
/// the answer covers unknown keys and invalid values for exactly the installed librdkafka version.
/// </summary>
internal static unsafe partial class LibrdkafkaConfigProbe
{
    private const string Library = LibrdkafkaLibrary.Name;
    private const int ErrorBufferSize = 512;
    private const int ConfUnknown = -2;
    private const int ConfOk = 0;

    static LibrdkafkaConfigProbe() => LibrdkafkaLibrary.EnsureResolver();

    /// <summary>The outcome of a probe.</summary>
    internal enum Result
    {
        /// <summary>librdkafka accepts the key and value.</summary>
        Accepted,

        /// <summary>librdkafka does not know the key.</summary>
        UnknownKey,

        /// <summary>librdkafka knows the key but rejects the value.</summary>
        InvalidValue,

        /// <summary>librdkafka could not be loaded; <c>error</c> says why (no client can be created either).</summary>
        Unavailable,
    }

    /// <summary>Probes one setting; <paramref name="error"/> is librdkafka's message when it refuses.</summary>
    internal static Result Check(string key, string value, out string? error)
    {
        error = null;
        IntPtr conf;
        try
        {
            conf = ConfNew();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or InvalidOperationException)
        {
            error = e.Message;
            return Result.Unavailable;
        }

        try
        {
            var buffer = stackalloc byte[ErrorBufferSize];
            var status = ConfSet(conf, key, value, buffer, ErrorBufferSize);
            if (status == ConfOk)
            {
                return Result.Accepted;
            }

            var length = new ReadOnlySpan<byte>(buffer, ErrorBufferSize).IndexOf((byte)0);
            error = Encoding.UTF8.GetString(buffer, length < 0 ? ErrorBufferSize : length);
            return status == ConfUnknown ? Result.UnknownKey : Result.InvalidValue;
        }
        finally
        {
            ConfDestroy(conf);
        }
    }

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_new")]
    private static partial IntPtr ConfNew();

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_destroy")]
    private static partial void ConfDestroy(IntPtr conf);

    [LibraryImport(Library, EntryPoint = "rd_kafka_conf_set", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ConfSet(IntPtr conf, string name, string value, byte* errstr, nuint errstrSize);
}
