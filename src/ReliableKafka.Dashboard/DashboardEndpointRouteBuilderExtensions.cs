using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ReliableKafka;
using ReliableKafka.Dashboard;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps ReliableKafka's dashboard into an ASP.NET Core application.</summary>
public static class DashboardEndpointRouteBuilderExtensions
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(), new SecondsConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>
    /// Serves the dashboard under <paramref name="pattern"/>: the page (<c>&lt;pattern&gt;/</c>, refreshing itself, with
    /// its script and style embedded in this package: nothing is loaded from elsewhere) and the JSON it reads,
    /// <c>&lt;pattern&gt;/api/status</c> (an <see cref="ReliableKafkaSnapshot"/> in camelCase, durations in seconds), for
    /// scripts too. Read-only unless <see cref="ReliableKafkaDashboardOptions.AllowRedrive"/> is set. The endpoints are
    /// a route group: protect them like any other, e.g. <c>.RequireAuthorization("ops")</c>.
    /// </summary>
    /// <param name="endpoints">The application (<c>app</c>).</param>
    /// <param name="pattern">Where the dashboard lives, e.g. <c>/kafka</c>.</param>
    /// <param name="configure">Sets the dashboard's options.</param>
    /// <returns>The group of the dashboard's endpoints.</returns>
    public static RouteGroupBuilder MapReliableKafkaDashboard(this IEndpointRouteBuilder endpoints, string pattern = "/kafka", Action<ReliableKafkaDashboardOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var options = new ReliableKafkaDashboardOptions();
        configure?.Invoke(options);
        if (options.RefreshInterval < TimeSpan.FromMilliseconds(250) || options.RefreshInterval > TimeSpan.FromHours(1))
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"ReliableKafkaDashboardOptions.RefreshInterval ({options.RefreshInterval.TotalMilliseconds} ms) must be between 250 ms and 3600000 ms."),
                nameof(configure));
        }

        if (endpoints.ServiceProvider.GetService<IServiceProviderIsService>()?.IsService(typeof(IReliableKafkaMonitor)) != true)
        {
            throw new InvalidOperationException("MapReliableKafkaDashboard needs ReliableKafka: call builder.Services.AddReliableKafka(...) first.");
        }

        var (page, script, style) = (Page(options), Asset("dashboard.js"), Asset("dashboard.css"));
        var group = endpoints.MapGroup(pattern);
        group.MapGet("/", (HttpContext context) =>
        {
            // The page's script and style are addressed relative to it: /kafka must become /kafka/.
            var path = context.Request.Path.Value ?? string.Empty;
            if (!path.EndsWith('/'))
            {
                return Results.Redirect($"{context.Request.PathBase}{path}/{context.Request.QueryString}");
            }

            // Everything the page loads is its own; nothing from data is ever HTML (the script writes text only).
            context.Response.Headers["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'self'";
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            return Results.Content(page, "text/html; charset=utf-8");
        });
        group.MapGet("/dashboard.js", () => Results.Text(script, "text/javascript; charset=utf-8"));
        group.MapGet("/dashboard.css", () => Results.Text(style, "text/css; charset=utf-8"));
        group.MapGet("/api/status", (IReliableKafkaMonitor monitor) => Results.Json(monitor.GetSnapshot(), Json));
        if (options.AllowRedrive)
        {
            var running = new HashSet<string>(StringComparer.Ordinal);
            group.MapPost("/api/redrive", (HttpContext context, IDeadLetterRedriver redriver, IOptions<ReliableKafkaOptions> kafka, IHostApplicationLifetime lifetime) =>
                RedriveAsync(context, redriver, kafka.Value, running, lifetime.ApplicationStopping));
        }

        if (options.AllowPause)
        {
            group.MapPost("/api/pause", (HttpContext context, IReliableKafkaMonitor monitor) => PauseAsync(context, monitor, paused: true));
            group.MapPost("/api/resume", (HttpContext context, IReliableKafkaMonitor monitor) => PauseAsync(context, monitor, paused: false));
        }

        return group;
    }

    private static async Task<IResult> PauseAsync(HttpContext context, IReliableKafkaMonitor monitor, bool paused)
    {
        if (Refused(context) is { } refused)
        {
            return refused;
        }

        PartitionBody? body;
        try
        {
            body = await context.Request.ReadFromJsonAsync<PartitionBody>(Json, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Results.BadRequest(new { error = $"The body is not a partition: {e.Message}" });
        }

        if (body is not { Consumer.Length: > 0, Topic.Length: > 0, Partition: >= 0 })
        {
            return Results.BadRequest(new { error = "consumer, topic and partition (0 or more) are required." });
        }

        var done = paused ? monitor.PausePartition(body.Consumer, body.Topic, body.Partition.Value) : monitor.ResumePartition(body.Consumer, body.Topic, body.Partition.Value);
        return done
            ? Results.Json(new { paused }, Json)
            : Results.Json(new { error = $"Consumer {body.Consumer} in this process does not own {body.Topic} [{body.Partition}] now." }, Json, statusCode: StatusCodes.Status404NotFound);
    }

    /// <summary>What every action requires: the dashboard's header (a cross-site form cannot send it) and a JSON body.</summary>
    private static IResult? Refused(HttpContext context)
    {
        if (context.Request.Headers["X-ReliableKafka-Dashboard"] != "1")
        {
            return Results.BadRequest(new { error = "The header X-ReliableKafka-Dashboard: 1 is required." });
        }

        return context.Request.HasJsonContentType()
            ? null
            : Results.Json(new { error = "The body must be JSON (Content-Type: application/json)." }, Json, statusCode: StatusCodes.Status415UnsupportedMediaType);
    }

    /// <summary>
    /// Redrives one dead-letter topic of a configured consumer, one redrive per topic at a time (two at once would copy
    /// the same records twice). It runs to its end even if the browser goes away (only the host's stop ends it early).
    /// </summary>
    private static async Task<IResult> RedriveAsync(HttpContext context, IDeadLetterRedriver redriver, ReliableKafkaOptions kafka, HashSet<string> running, CancellationToken stopping)
    {
        if (Refused(context) is { } refused)
        {
            return refused;
        }

        RedriveBody? body;
        try
        {
            body = await context.Request.ReadFromJsonAsync<RedriveBody>(Json, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            return Results.BadRequest(new { error = $"The body is not a redrive request: {e.Message}" });
        }

        // Only the dead-letter topics of the consumers configured here: the endpoint is not a way to copy any topic.
        var deadLetterTopics = kafka.Consumers.Values.SelectMany(c => c.Topics.Select(c.DeadLetter.TopicFor)).ToHashSet(StringComparer.Ordinal);
        if (body?.DeadLetterTopic is not { Length: > 0 } topic || !deadLetterTopics.Contains(topic))
        {
            return Results.BadRequest(new { error = $"deadLetterTopic must be the dead-letter topic of a configured consumer: {string.Join(", ", deadLetterTopics.Order(StringComparer.Ordinal))}." });
        }

        lock (running)
        {
            if (!running.Add(topic))
            {
                return Results.Json(new { error = $"A redrive of {topic} is running already." }, Json, statusCode: StatusCodes.Status409Conflict);
            }
        }

        try
        {
            var result = await redriver.RedriveAsync(new RedriveRequest { DeadLetterTopic = topic, OriginalTopic = body.OriginalTopic }, stopping).ConfigureAwait(false);
            return Results.Json(result, Json);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or Confluent.Kafka.KafkaException)
        {
            return Results.Json(new { error = e.Message }, Json, statusCode: e is ArgumentException ? StatusCodes.Status400BadRequest : StatusCodes.Status409Conflict);
        }
        finally
        {
            lock (running)
            {
                running.Remove(topic);
            }
        }
    }

    private static string Page(ReliableKafkaDashboardOptions options) => Asset("index.html")
        .Replace("{{title}}", WebUtility.HtmlEncode(options.Title), StringComparison.Ordinal)
        .Replace("{{refresh}}", ((long)options.RefreshInterval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{{redrive}}", options.AllowRedrive ? "true" : "false", StringComparison.Ordinal)
        .Replace("{{pause}}", options.AllowPause ? "true" : "false", StringComparison.Ordinal);

    private static string Asset(string name)
    {
        using var stream = typeof(ReliableKafkaDashboardOptions).Assembly.GetManifestResourceStream($"ReliableKafka.Dashboard.{name}")
            ?? throw new InvalidOperationException($"The dashboard asset {name} is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private sealed record RedriveBody(string? DeadLetterTopic, string? OriginalTopic);

    private sealed record PartitionBody(string? Consumer, string? Topic, int? Partition);

    /// <summary>Writes durations as seconds (a number), which scripts and the page read without parsing.</summary>
    private sealed class SecondsConverter : JsonConverter<TimeSpan>
    {
        public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => TimeSpan.FromSeconds(reader.GetDouble());

        public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) => writer.WriteNumberValue(Math.Round(value.TotalSeconds, 3));
    }
}
