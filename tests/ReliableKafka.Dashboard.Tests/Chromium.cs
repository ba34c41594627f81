using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace ReliableKafka.Dashboard.Tests;

/// <summary>
/// Headless Chromium from Debian's packages (chromium, chromium-driver), driven through Selenium's WebDriver.
/// eng/provision-chromium.sh installs them (./build.sh test runs it); nothing is downloaded at test time.
/// </summary>
internal static class Chromium
{
    private static readonly string[] Browsers = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
    private const string Driver = "/usr/bin/chromedriver";

    public static ChromeDriver Start()
    {
        var browser = Browsers.FirstOrDefault(File.Exists);
        if (browser is null || !File.Exists(Driver))
        {
            throw new InvalidOperationException(
                "Chromium and its driver are not installed: run ./build.sh test (which installs them), or `bash eng/provision-chromium.sh`.");
        }

        var options = new ChromeOptions { BinaryLocation = browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(Driver), Path.GetFileName(Driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    /// <summary>Polls the page until <paramref name="condition"/> holds (elements come and go as the page re-renders).</summary>
    public static async Task UntilAsync(IWebDriver driver, Func<IWebDriver, bool> condition, string because, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (condition(driver))
                {
                    return;
                }
            }
            catch (WebDriverException e)
            {
                last = e; // StaleElementReference, NoSuchElement: the page re-rendered meanwhile
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"Waited for: {because}. Page text: {Text(driver)}", last);
    }

    public static string Text(IWebDriver driver)
    {
        try
        {
            return driver.FindElement(By.TagName("body")).Text;
        }
        catch (WebDriverException e)
        {
            return $"(unreadable: {e.Message})";
        }
    }
}
