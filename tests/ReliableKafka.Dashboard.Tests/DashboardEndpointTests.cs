using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ReliableKafka.Dashboard.Tests;

/// <summary>The dashboard's endpoints without a browser: the JSON for scripts, the redirect, authorization, opt-in actions.</summary>
public sealed class DashboardEndpointTests
{
    [Fact]
    public async Task Status_IsTheSnapshotInCamelCase_WithEachPartitionsOffsets()
    {
        await using var app = await DashboardApp.StartAsync();
        await app.ProduceAsync(6, 0);
        using var http = new HttpClient { BaseAddress = new Uri(app.BaseAddress) };

        JsonElement consumer = default;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var status = await http.GetFromJsonAsync<JsonElement>("/kafka/api/status");
            consumer = status.GetProperty("consumers").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "orders");
            if (consumer.GetProperty("partitions").EnumerateArray().Sum(p => p.GetProperty("committedOffset").ValueKind == JsonValueKind.Number ? p.GetProperty("committedOffset").GetInt64() : 0) == 6)
            {
                break;
            }

            await Task.Delay(200);
        }

        consumer.GetProperty("state").GetString().Should().Be("Running");
        consumer.GetProperty("handled").GetInt64().Should().Be(6);
        consumer.GetProperty("topics").EnumerateArray().Select(t => t.GetString()).Should().Equal(app.Topic);
        var partitions = consumer.GetProperty("partitions").EnumerateArray().ToList();
        partitions.Select(p => p.GetProperty("partition").GetInt32()).Should().BeEquivalentTo([0, 1]);
        foreach (var partition in partitions)
        {
            partition.GetProperty("topic").GetString().Should().Be(app.Topic);
            foreach (var field in new[] { "committedOffset", "watermark", "finishedBeyondWatermark", "highWatermark", "lag", "buffered", "running", "paused" })
            {
                partition.TryGetProperty(field, out _).Should().BeTrue($"the JSON has {field}");
            }
        }
    }

    [Fact]
    public async Task PageWithoutTrailingSlash_RedirectsToIt_AndAssetsAreServedFromThePackage()
    {
        await using var app = await DashboardApp.StartAsync();
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(app.BaseAddress) };

        var redirect = await http.GetAsync("/kafka?x=1");
        redirect.StatusCode.Should().Be(HttpStatusCode.Redirect);
        redirect.Headers.Location!.ToString().Should().Be("/kafka/?x=1");
        var page = await http.GetStringAsync("/kafka/");
        page.Should().Contain("<title>ReliableKafka</title>").And.Contain("data-redrive=\"false\"").And.NotContain("http://").And.NotContain("https://");
        var served = await http.GetAsync("/kafka/");
        served.Headers.GetValues("Content-Security-Policy").Single().Should().StartWith("default-src 'self'");
        (await http.GetAsync("/kafka/dashboard.js")).Content.Headers.ContentType!.MediaType.Should().Be("text/javascript");
        (await http.GetAsync("/kafka/dashboard.css")).Content.Headers.ContentType!.MediaType.Should().Be("text/css");
    }

    [Fact]
    public async Task RequireAuthorization_AnonymousCallsAreRefused()
    {
        await using var app = await DashboardApp.StartAsync(
            builder =>
            {
                builder.Services.AddAuthentication("test").AddScheme<AuthenticationSchemeOptions, HeaderAuthentication>("test", null);
                builder.Services.AddAuthorization();
            },
            web =>
            {
                web.UseAuthentication();
                web.UseAuthorization();
                web.MapReliableKafkaDashboard("/ops/kafka").RequireAuthorization();
            });
        using var http = new HttpClient { BaseAddress = new Uri(app.BaseAddress) };

        (await http.GetAsync("/ops/kafka/api/status")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await http.GetAsync("/ops/kafka/")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        using var signedIn = new HttpRequestMessage(HttpMethod.Get, "/ops/kafka/api/status") { Headers = { { "X-Test-User", "ops" } } };
        (await http.SendAsync(signedIn)).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Redrive_OffByDefault_OnWhenAllowed_RedrivesTheDeadLetterTopic()
    {
        await using (var readOnly = await DashboardApp.StartAsync())
        {
            using var http = new HttpClient { BaseAddress = new Uri(readOnly.BaseAddress) };
            var refused = await http.PostAsJsonAsync("/kafka/api/redrive", new { deadLetterTopic = readOnly.Topic + ".dlt" });
            refused.IsSuccessStatusCode.Should().BeFalse("actions are off unless AllowRedrive is set");
        }

        await using var app = await DashboardApp.StartAsync(map: web => web.MapReliableKafkaDashboard("/kafka", o => o.AllowRedrive = true));
        var records = app.Services.GetRequiredService<DashboardApp.HandledRecords>();
        records.Fail = value => value == "bad";
        await app.ProduceAsync(1, 0, "bad");
        var monitor = app.Services.GetRequiredService<IReliableKafkaMonitor>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (monitor.GetSnapshot().Consumers.Single().DeadLettered == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        monitor.GetSnapshot().Consumers.Single().DeadLettered.Should().Be(1, "the bad record was dead-lettered");
        records.Fail = null;
        using var client = new HttpClient { BaseAddress = new Uri(app.BaseAddress) };
        (await client.PostAsJsonAsync("/kafka/api/redrive", new { deadLetterTopic = app.Topic + ".dlt" })).StatusCode.Should().Be(HttpStatusCode.BadRequest, "the header is required");
        using (var otherTopic = Redrive(new { deadLetterTopic = app.Topic }))
        {
            var refused = await client.SendAsync(otherTopic);
            refused.StatusCode.Should().Be(HttpStatusCode.BadRequest, "only a configured consumer's dead-letter topic may be redriven");
            (await refused.Content.ReadAsStringAsync()).Should().Contain(app.Topic + ".dlt");
        }

        using (var notJson = new HttpRequestMessage(HttpMethod.Post, "/kafka/api/redrive") { Content = new StringContent("deadLetterTopic=x"), Headers = { { "X-ReliableKafka-Dashboard", "1" } } })
        {
            (await client.SendAsync(notJson)).StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType);
        }

        using var request = Redrive(new { deadLetterTopic = app.Topic + ".dlt" });
        var response = await client.SendAsync(request);
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("redriven").GetInt32().Should().Be(1);
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (records.Records.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        records.Records.Should().ContainSingle("the redriven record is handled");
    }

    [Fact]
    public async Task Pause_OffByDefault_OnWhenAllowed_StopsThePartitionUntilResumed()
    {
        await using (var readOnly = await DashboardApp.StartAsync())
        {
            using var http = new HttpClient { BaseAddress = new Uri(readOnly.BaseAddress) };
            using var request = Action("/kafka/api/pause", new { consumer = "orders", topic = readOnly.Topic, partition = 0 });
            (await http.SendAsync(request)).IsSuccessStatusCode.Should().BeFalse("actions are off unless AllowPause is set");
        }

        await using var app = await DashboardApp.StartAsync(map: web => web.MapReliableKafkaDashboard("/kafka", o => o.AllowPause = true));
        var records = app.Services.GetRequiredService<DashboardApp.HandledRecords>();
        var monitor = app.Services.GetRequiredService<IReliableKafkaMonitor>();
        using var client = new HttpClient { BaseAddress = new Uri(app.BaseAddress) };
        await UntilAsync(() => monitor.GetSnapshot().Consumers.Single().Partitions.Count == 2, "both partitions assigned");

        foreach (var partition in new[] { 0, 1 })
        {
            using var pause = Action("/kafka/api/pause", new { consumer = "orders", topic = app.Topic, partition });
            (await client.SendAsync(pause)).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        using (var unknown = Action("/kafka/api/pause", new { consumer = "orders", topic = app.Topic, partition = 9 }))
        {
            (await client.SendAsync(unknown)).StatusCode.Should().Be(HttpStatusCode.NotFound);
        }

        await UntilAsync(() => monitor.GetSnapshot().Consumers.Single().Partitions.All(p => p.Paused && p.PausedByOperator), "both paused");
        monitor.GetSnapshot().Consumers.Single().Problems.Should().ContainSingle(p => p.StartsWith("paused by an operator", StringComparison.Ordinal));
        await app.ProduceAsync(6, 0);
        await Task.Delay(700);
        records.Records.Should().BeEmpty("paused partitions take no records");

        foreach (var partition in new[] { 0, 1 })
        {
            using var resume = Action("/kafka/api/resume", new { consumer = "orders", topic = app.Topic, partition });
            (await client.SendAsync(resume)).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        await UntilAsync(() => records.Records.Count == 6, "every record handled once resumed");
        records.Records.Should().OnlyHaveUniqueItems();
        monitor.GetSnapshot().Consumers.Single().Partitions.Should().OnlyContain(p => !p.PausedByOperator);
    }

    [Fact]
    public async Task RefreshIntervalTooShort_FailsNamingTheOption()
    {
        var act = () => DashboardApp.StartAsync(map: web => web.MapReliableKafkaDashboard("/kafka", o => o.RefreshInterval = TimeSpan.FromMilliseconds(10)));
        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("RefreshInterval (10 ms) must be between 250 ms and 3600000 ms");
    }

    private static HttpRequestMessage Redrive(object body) => Action("/kafka/api/redrive", body);

    private static HttpRequestMessage Action(string path, object body) => new(HttpMethod.Post, path)
    {
        Content = JsonContent.Create(body),
        Headers = { { "X-ReliableKafka-Dashboard", "1" } },
    };

    private static async Task UntilAsync(Func<bool> condition, string because)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 30 s for: {because}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Signs in whoever sends X-Test-User.</summary>
    private sealed class HeaderAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(Request.Headers.TryGetValue("X-Test-User", out var user)
                ? AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user.ToString())], "test")), "test"))
                : AuthenticateResult.NoResult());
    }
}
