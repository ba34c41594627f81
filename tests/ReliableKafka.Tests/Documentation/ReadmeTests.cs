using System.Reflection;
using System.Text.RegularExpressions;

namespace ReliableKafka.Tests.Documentation;

/// <summary>Keeps the README true: its code is copied from files that compile, and every option is documented.</summary>
public sealed partial class ReadmeTests
{
    private static readonly string Root = FindRoot();
    private static readonly string Readme = File.ReadAllText(Path.Combine(Root, "README.md"));

    [Fact]
    public void Snippets_AreIdenticalToTheFilesTheyCite()
    {
        var snippets = SnippetPattern().Matches(Readme);

        snippets.Should().HaveCountGreaterThanOrEqualTo(4);
        foreach (Match snippet in snippets)
        {
            var source = snippet.Groups["path"].Value;
            var region = snippet.Groups["region"].Success ? snippet.Groups["region"].Value : null;
            var expected = Normalize(ReadSource(source, region));

            Normalize(snippet.Groups["code"].Value).Should().Be(expected, $"the README's copy of {source}{(region is null ? string.Empty : "#" + region)} must match the file");
        }
    }

    [Theory]
    [InlineData(typeof(ReliableKafkaOptions))]
    [InlineData(typeof(KafkaSecurityOptions))]
    [InlineData(typeof(KafkaClusterOptions))]
    [InlineData(typeof(ProducerOptions))]
    [InlineData(typeof(ConsumerOptions))]
    [InlineData(typeof(RetryOptions))]
    [InlineData(typeof(DeadLetterOptions))]
    [InlineData(typeof(RetryTopicOptions))]
    [InlineData(typeof(DeduplicationOptions))]
    [InlineData(typeof(DelayedDeliveryOptions))]
    [InlineData(typeof(ReliableKafka.Deduplication.InMemoryDeduplicationOptions))]
    [InlineData(typeof(ReliableKafka.Sqlite.SqliteDeduplicationOptions))]
    [InlineData(typeof(ReliableKafka.PostgreSql.PostgreSqlDeduplicationOptions))]
    public void ConfigurationReference_ListsEveryOption(Type options)
    {
        foreach (var property in options.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            Readme.Should().Contain($"| `{property.Name}` |", $"{options.Name}.{property.Name} must be in the configuration reference");
        }
    }

    [Fact]
    public void EventIds_EveryLoggedEventIsListed()
    {
        var log = File.ReadAllText(Path.Combine(Root, "src", "ReliableKafka", "Diagnostics", "Internal", "Log.cs"));
        var ids = EventIdPattern().Matches(log).Select(m => m.Groups["id"].Value).ToList();

        ids.Should().NotBeEmpty();
        foreach (var id in ids)
        {
            Readme.Should().Contain($"| {id} |", $"event {id} must be listed under Event ids");
        }
    }

    private static string ReadSource(string relativePath, string? region)
    {
        var text = File.ReadAllText(Path.Combine(Root, relativePath));
        if (region is null)
        {
            return text;
        }

        var lines = text.Split('\n');
        var start = Array.FindIndex(lines, l => l.Trim() == $"// snippet: {region}");
        var end = Array.FindIndex(lines, start + 1, l => l.Trim() == "// end snippet");
        start.Should().BeGreaterThanOrEqualTo(0, $"{relativePath} must contain '// snippet: {region}'");
        end.Should().BeGreaterThan(start, $"{relativePath} must close the snippet with '// end snippet'");
        var body = lines[(start + 1)..end];
        var indent = body.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    private static string Normalize(string code) => code.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ReliableKafka.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (ReliableKafka.sln) was not found above the test directory.");
    }

    [GeneratedRegex(@"EventId = (?<id>\d+)")]
    private static partial Regex EventIdPattern();

    [GeneratedRegex(@"<!-- snippet: (?<path>[^#\s]+)(#(?<region>\S+))? -->\s*```\w*\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex SnippetPattern();
}
