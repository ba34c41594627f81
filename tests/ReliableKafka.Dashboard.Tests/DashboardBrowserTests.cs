using Microsoft.AspNetCore.Builder;
using OpenQA.Selenium;
using Microsoft.Extensions.DependencyInjection;

namespace ReliableKafka.Dashboard.Tests;

/// <summary>The dashboard in a real browser (headless Chromium) while a consumer runs on the embedded cluster.</summary>
public sealed class DashboardBrowserTests
{
    [Fact]
    public async Task PageShowsEachPartitionsOffsets_AndUpdatesThemAsRecordsAreHandled()
    {
        await using var app = await DashboardApp.StartAsync();
        var handled = app.Services.GetRequiredService<DashboardApp.HandledRecords>();
        await app.ProduceAsync(10, 0);
        using var driver = Chromium.Start();
        driver.Navigate().GoToUrl(app.BaseAddress + "/kafka");

        driver.Title.Should().Be("ReliableKafka");
        driver.Url.Should().EndWith("/kafka/", "the page is served with a trailing slash so that its assets resolve");
        await Chromium.UntilAsync(
            driver,
            d => Partitions(d).Count == 2 && Partitions(d).Values.Sum(r => Number(r, "committed")) == 10,
            "both partitions shown, 10 records committed");
        var consumer = driver.FindElement(By.CssSelector("[data-consumer='orders']"));
        consumer.FindElement(By.CssSelector("[data-field='state']")).Text.Should().Be("running");
        consumer.FindElement(By.CssSelector("[data-field='handled']")).Text.Should().Be("10");
        await Chromium.UntilAsync(
            driver,
            d => Partitions(d).Values.All(r => Number(r, "lag") == 0 && Number(r, "high") == Number(r, "committed")),
            "no lag: the end offsets (refreshed about once a second) are where the commits are");

        // More records: the page updates without a reload.
        await app.ProduceAsync(15, 1);
        await Chromium.UntilAsync(
            driver,
            d => Partitions(d).Values.Sum(r => Number(r, "committed")) == 25 && d.FindElement(By.CssSelector("[data-field='handled']")).Text == "25",
            "25 records committed and handled, shown on the page");
        handled.Records.Should().HaveCount(25);
        driver.FindElement(By.CssSelector("[data-producer='default'] .sent")).Text.Should().Be("25");

        // The picture in the README.
        if (Environment.GetEnvironmentVariable("RELIABLEKAFKA_DASHBOARD_SCREENSHOT") is { Length: > 0 } path)
        {
            ((ITakesScreenshot)driver).GetScreenshot().SaveAsFile(path);
        }
    }

    [Fact]
    public async Task FailedRecords_TheDeadLetterCountAndThePartitionStateAppear()
    {
        await using var app = await DashboardApp.StartAsync(partitions: 1);
        app.Services.GetRequiredService<DashboardApp.HandledRecords>().Fail = value => value == "bad";
        await app.ProduceAsync(3, 0);
        await app.ProduceAsync(2, 0, "bad");
        using var driver = Chromium.Start();
        driver.Navigate().GoToUrl(app.BaseAddress + "/kafka/");

        await Chromium.UntilAsync(
            driver,
            d => d.FindElement(By.CssSelector("[data-field='dead-lettered']")).Text == "2" && Partitions(d).Values.Sum(r => Number(r, "committed")) == 5,
            "2 records dead-lettered, all 5 committed");
        driver.FindElement(By.CssSelector("[data-field='handled']")).Text.Should().Be("3");
    }

    [Fact]
    public async Task FailureMessageWithMarkup_IsShownAsText_NeverAsHtml()
    {
        const string Markup = "<img src=x onerror=\"document.title='owned'\"><b>bold</b>";
        await using var app = await DashboardApp.StartAsync(partitions: 1, consumer: o => o.FailurePolicy = FailurePolicy.PausePartition);
        var records = app.Services.GetRequiredService<DashboardApp.HandledRecords>();
        records.FailMessage = Markup;
        records.Fail = value => value == "bad";
        await app.ProduceAsync(1, 0, "bad");
        using var driver = Chromium.Start();
        driver.Navigate().GoToUrl(app.BaseAddress + "/kafka/");

        await Chromium.UntilAsync(driver, d => d.FindElements(By.CssSelector("td.state.failed")).Count == 1, "the partition shown as failed");
        driver.FindElement(By.CssSelector("td.state.failed")).Text.Should().Be("failed: " + Markup);
        driver.FindElements(By.CssSelector("img")).Should().BeEmpty("data is text, never markup");
        driver.FindElements(By.CssSelector("td.state.failed *")).Should().BeEmpty("the cell holds text only");
        driver.Title.Should().Be("ReliableKafka");
        driver.FindElement(By.CssSelector(".problems")).Text.Should().Contain("stopped by failed records");
    }

    [Fact]
    public async Task PauseButton_PausesThePartition_AndResumeButtonResumesIt()
    {
        await using var app = await DashboardApp.StartAsync(
            map: web => web.MapReliableKafkaDashboard("/kafka", o => (o.AllowPause, o.RefreshInterval) = (true, TimeSpan.FromMilliseconds(300))),
            partitions: 1);
        using var driver = Chromium.Start();
        driver.Navigate().GoToUrl(app.BaseAddress + "/kafka/");
        await Chromium.UntilAsync(driver, d => d.FindElements(By.CssSelector("tr[data-partition] button.pause")).Count == 1, "a pause button on the partition");

        driver.FindElement(By.CssSelector("tr[data-partition] button.pause")).Click();
        await Chromium.UntilAsync(driver, d => d.FindElement(By.CssSelector("tr[data-partition] td.state")).Text == "paused by operator", "the partition shown paused");
        await app.ProduceAsync(3, 0);
        await Task.Delay(500);
        app.Services.GetRequiredService<DashboardApp.HandledRecords>().Records.Should().BeEmpty();

        await Chromium.UntilAsync(driver, d => d.FindElement(By.CssSelector("tr[data-partition] button.pause")).Text == "resume", "the button offers resume");
        driver.FindElement(By.CssSelector("tr[data-partition] button.pause")).Click();
        await Chromium.UntilAsync(
            driver,
            d => d.FindElement(By.CssSelector("[data-field='handled']")).Text == "3" && d.FindElement(By.CssSelector("tr[data-partition] td.state")).Text != "paused by operator",
            "resumed: the 3 records handled");
    }

    private static Dictionary<string, IWebElement> Partitions(ISearchContext driver) =>
        driver.FindElements(By.CssSelector("tr[data-partition]")).ToDictionary(r => r.GetAttribute("data-partition")!);

    private static long Number(IWebElement row, string cell) =>
        long.TryParse(row.FindElement(By.CssSelector("td." + cell)).Text.Replace(",", string.Empty, StringComparison.Ordinal), out var value) ? value : -1;
}
