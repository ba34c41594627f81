using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace ReliableKafka.Configuration.Internal;

/// <summary>
/// An integer option, or a <see cref="TimeSpan"/> option in whole milliseconds, must lie within a range; the
/// message shows the value (with its unit) and the range, e.g. "CommitInterval (0 ms) must be between 10 ms and 86400000 ms.".
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class OptionRangeAttribute(long minimum, long maximum) : ValidationAttribute
{
    public long Minimum { get; } = minimum;

    public long Maximum { get; } = maximum;

    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        var (number, unit) = value switch
        {
            int i => ((double)i, string.Empty),
            TimeSpan span => (span.TotalMilliseconds, " ms"),
            _ => (double.NaN, string.Empty),
        };
        if (double.IsNaN(number) || (number >= Minimum && number <= Maximum))
        {
            return ValidationResult.Success;
        }

        return new ValidationResult(
            string.Create(CultureInfo.InvariantCulture, $"{validationContext.MemberName} ({number:0.###}{unit}) must be between {Minimum}{unit} and {Maximum}{unit}."),
            [validationContext.MemberName!]);
    }
}
