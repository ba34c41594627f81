using System.Text.RegularExpressions;

namespace ReliableKafka.Deduplication.Internal;

/// <summary>The rule for the schema and table names the SQL stores put into their statements.</summary>
internal static class SqlIdentifier
{
    /// <summary>Letters, digits and underscores, at most 63 characters, not starting with a digit.</summary>
    public const string Pattern = "^[A-Za-z_][A-Za-z0-9_]{0,62}$";

    /// <summary>The validation message's rule, after the option's name.</summary>
    public const string Rule = "must be a plain SQL identifier (letters, digits and underscores, at most 63 characters, not starting with a digit).";

    /// <summary>Throws when <paramref name="value"/> of option <paramref name="option"/> breaks the rule (a store built without validated options).</summary>
    public static void Require(string value, string option, string paramName)
    {
        if (value is null || !Regex.IsMatch(value, Pattern, RegexOptions.None, TimeSpan.FromSeconds(1)))
        {
            throw new ArgumentException($"{option} '{value}' {Rule}", paramName);
        }
    }
}
