namespace OrderProcessing;

/// <summary>The demo's workload (section <c>Demo</c>; also --orders, --customers, --partitions on the command line).</summary>
public sealed class DemoOptions
{
    public int Orders { get; set; } = 2000;

    public int Customers { get; set; } = 50;

    /// <summary>Partitions of the topic when the demo creates it.</summary>
    public int Partitions { get; set; } = 6;

    /// <summary>How long to wait for every order to be processed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(1);
}
