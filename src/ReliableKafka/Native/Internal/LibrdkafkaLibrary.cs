using System.Reflection;
using System.Runtime.InteropServices;

namespace ReliableKafka.Native.Internal;

/// <summary>
/// Binds this assembly's P/Invokes into librdkafka (<c>[LibraryImport("librdkafka")]</c>) to exactly the native
/// image that Confluent.Kafka loaded, so that one process never holds two copies of librdkafka and a
/// <c>rd_kafka_t*</c> made by one copy is never passed to another.
/// </summary>
/// <remarks>
/// <para>
/// The runtime's default probing for <c>librdkafka</c> is not enough: librdkafka.redist ships several Linux builds
/// (<c>librdkafka.so</c>, which needs <c>libsasl2.so.3</c>, <c>centos8-librdkafka.so</c> without that dependency,
/// <c>alpine-librdkafka.so</c> for musl), and Confluent.Kafka tries them in turn while the default probing would
/// stop at the first. So Confluent.Kafka is made to load its library first (<see cref="Confluent.Kafka.Library.Version"/>);
/// on Linux the loaded image is then found by path in <c>/proc/self/maps</c> (which also covers a library that the
/// application loaded from its own path with <see cref="Confluent.Kafka.Library.Load(string)"/>) and opened again,
/// which returns the handle of the image already loaded. Elsewhere, and on a Linux without <c>/proc</c>, the names
/// Confluent.Kafka tries are resolved with its assembly's probing paths.
/// </para>
/// <para>
/// This file is compiled into each ReliableKafka assembly that declares such imports (it is linked into
/// ReliableKafka.Testing); each class holding imports calls <see cref="EnsureResolver"/> from its static constructor,
/// which runs before its first P/Invoke is bound.
/// </para>
/// </remarks>
internal static class LibrdkafkaLibrary
{
    /// <summary>The library name every import of ours uses.</summary>
    public const string Name = "librdkafka";

    // A function every librdkafka exports: it confirms that an opened file is librdkafka.
    private const string ProbeExport = "rd_kafka_version";

    private static readonly Lazy<IntPtr> Handle = new(Resolve, LazyThreadSafetyMode.ExecutionAndPublication);
    private static int s_registered;

    /// <summary>Registers the resolver for the assembly this file is compiled into (once; later calls do nothing).</summary>
    public static void EnsureResolver()
    {
        if (Interlocked.Exchange(ref s_registered, 1) == 0)
        {
            NativeLibrary.SetDllImportResolver(typeof(LibrdkafkaLibrary).Assembly, static (name, _, _) => name == Name ? Handle.Value : IntPtr.Zero);
        }
    }

    /// <summary>
    /// Gets the path of every distinct librdkafka file mapped into this process (Linux; empty elsewhere or when
    /// <c>/proc/self/maps</c> cannot be read). One entry once Confluent.Kafka has loaded its library.
    /// </summary>
    public static IReadOnlyList<string> MappedImages()
    {
        if (!OperatingSystem.IsLinux())
        {
            return [];
        }

        string[] lines;
        try
        {
            lines = File.ReadAllLines("/proc/self/maps");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }

        var paths = new List<string>();
        foreach (var line in lines)
        {
            // address perms offset dev inode pathname; the path is the rest of the line and may hold spaces.
            var path = line.IndexOf('/', StringComparison.Ordinal) is var start and >= 0 ? line[start..] : null;
            if (path is null || path.EndsWith(" (deleted)", StringComparison.Ordinal))
            {
                continue;
            }

            var file = Path.GetFileName(path);
            if (file.Contains("rdkafka", StringComparison.Ordinal)
                && (file.EndsWith(".so", StringComparison.Ordinal) || file.Contains(".so.", StringComparison.Ordinal))
                && !paths.Contains(path, StringComparer.Ordinal))
            {
                paths.Add(path);
            }
        }

        return paths;
    }

    private static IntPtr Resolve()
    {
        // Makes Confluent.Kafka load its librdkafka (throws its own DllNotFoundException when none loads).
        _ = Confluent.Kafka.Library.Version;

        var tried = new List<string>();
        var mapped = MappedImages();
        if (mapped.Count > 1)
        {
            throw new InvalidOperationException(
                $"Several librdkafka images are loaded in this process ({string.Join(", ", mapped)}); ReliableKafka cannot tell which one Confluent.Kafka uses. " +
                "Load exactly one (see Confluent.Kafka.Library.Load).");
        }

        if (mapped.Count == 1)
        {
            if (TryOpen(mapped[0], null, out var handle))
            {
                return handle;
            }

            tried.Add($"{mapped[0]} (mapped in this process, but it could not be opened or does not export {ProbeExport})");
        }

        var confluent = typeof(Confluent.Kafka.Library).Assembly;
        foreach (var candidate in Candidates())
        {
            if (TryOpen(candidate, confluent, out var handle))
            {
                return handle;
            }

            tried.Add($"{candidate} (probed like Confluent.Kafka's own imports)");
        }

        throw new DllNotFoundException(
            $"ReliableKafka could not bind to the librdkafka that Confluent.Kafka {confluent.GetName().Version} loaded (librdkafka {Confluent.Kafka.Library.VersionString}). Tried: {string.Join("; ", tried)}. " +
            "If the application loads librdkafka from a path of its own, call Confluent.Kafka.Library.Load(path) before using ReliableKafka.");
    }

    /// <summary>The names Confluent.Kafka's loader tries, in its order.</summary>
    private static IEnumerable<string> Candidates()
    {
        if (!OperatingSystem.IsLinux())
        {
            return [Name];
        }

        return IsMusl() ? ["alpine-librdkafka", Name] : [Name, "centos8-librdkafka"];
    }

    private static bool IsMusl() =>
        RuntimeInformation.RuntimeIdentifier.Contains("musl", StringComparison.OrdinalIgnoreCase)
        || (File.Exists("/etc/os-release") && File.ReadAllText("/etc/os-release").Contains("ID=alpine", StringComparison.Ordinal));

    private static bool TryOpen(string nameOrPath, Assembly? probingAssembly, out IntPtr handle)
    {
        var opened = probingAssembly is null
            ? NativeLibrary.TryLoad(nameOrPath, out handle)
            : NativeLibrary.TryLoad(nameOrPath, probingAssembly, null, out handle);
        if (!opened)
        {
            return false;
        }

        if (NativeLibrary.TryGetExport(handle, ProbeExport, out _))
        {
            return true;
        }

        NativeLibrary.Free(handle);
        handle = IntPtr.Zero;
        return false;
    }
}
