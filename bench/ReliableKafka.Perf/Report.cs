using System.Globalization;
using System.Text.Json;

namespace ReliableKafka.Perf;

/// <summary>The runs of one workload: ReliableKafka's and, when compared, raw Confluent.Kafka's.</summary>
internal sealed class Comparison(string kind, string label, string subject = "reliable", string baseline = "raw")
{
    private readonly List<(string Client, double RecordsPerSecond, object Run)> _runs = [];

    public string Kind { get; } = kind;

    public string Label { get; } = label;

    public void Add(string client, double recordsPerSecond, object run) => _runs.Add((client, recordsPerSecond, run));

    public double? Median(string client)
    {
        var values = _runs.Where(r => r.Client == client).Select(r => r.RecordsPerSecond).Order().ToList();
        if (values.Count == 0)
        {
            return null;
        }

        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2;
    }

    public IEnumerable<string> Summary()
    {
        var reliable = Median(subject);
        var raw = Median(baseline);
        yield return raw is null
            ? string.Create(CultureInfo.InvariantCulture, $"{Label}: {subject} {reliable:0}/s")
            : string.Create(CultureInfo.InvariantCulture, $"{Label}: {subject} {reliable:0}/s {baseline} {raw:0}/s ratio {reliable / raw:0.00}");
        if (Median("raw+id") is { } rawWithId)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"{Label} (raw with the same message-id header): reliable {reliable:0}/s raw {rawWithId:0}/s ratio {reliable / rawWithId:0.00}");
        }

        if (Median("raw-async") is { } rawAsync)
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"{Label} (raw ProduceAsync, Confluent's Task API): reliable {reliable:0}/s raw {rawAsync:0}/s ratio {reliable / rawAsync:0.00}");
        }
    }

    public object ToJson() => new
    {
        kind = Kind,
        label = Label,
        subject,
        baseline,
        subjectMedianRecordsPerSecond = Median(subject),
        baselineMedianRecordsPerSecond = Median(baseline),
        ratio = Median(baseline) is { } raw ? Median(subject) / raw : null,
        rawWithMessageIdMedianRecordsPerSecond = Median("raw+id"),
        ratioToRawWithMessageId = Median("raw+id") is { } rawWithId ? Median("reliable") / rawWithId : null,
        rawProduceAsyncMedianRecordsPerSecond = Median("raw-async"),
        ratioToRawProduceAsync = Median("raw-async") is { } rawAsync ? Median("reliable") / rawAsync : null,
        runs = _runs.Select(r => r.Run).ToList(),
    };
}

/// <summary>Collects comparisons; prints one summary line each and optionally writes JSON.</summary>
internal sealed class Report
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private readonly List<Comparison> _comparisons = [];
    private readonly List<string> _closingLines = [];
    private readonly List<object> _results = [];

    public void Add(Comparison comparison) => _comparisons.Add(comparison);

    /// <summary>A workload that reports its own summary line rather than a comparison (delay): the line, and what goes to the JSON file.</summary>
    public void Add(string line, object result)
    {
        _closingLines.Add(line);
        _results.Add(result);
    }

    /// <summary>A line printed after all summaries (the issue-style closing lines).</summary>
    public void AddClosingLine(string line) => _closingLines.Add(line);

    public async Task<int> FinishAsync(FileInfo? json)
    {
        Console.WriteLine();
        foreach (var line in _comparisons.SelectMany(c => c.Summary()).Concat(_closingLines))
        {
            Console.WriteLine(line);
        }

        if (json is not null)
        {
            var document = new
            {
                machine = new { cores = Environment.ProcessorCount, os = Environment.OSVersion.ToString(), runtime = Environment.Version.ToString() },
                date = DateTimeOffset.UtcNow,
                comparisons = _comparisons.Select(c => c.ToJson()).ToList(),
                results = _results,
            };
            await using var stream = json.Create();
            await JsonSerializer.SerializeAsync(stream, document, document.GetType(), Json);
        }

        return 0;
    }
}
