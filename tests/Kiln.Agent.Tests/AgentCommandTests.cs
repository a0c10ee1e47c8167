using Kiln.Server.Tests;

namespace Kiln.Agent.Tests;

/// <summary>`kiln agent` refuses bad flags and config with a message naming what is wrong, before it loads anything.</summary>
public sealed class AgentCommandTests
{
    [Theory]
    [InlineData("--sampling-frequency 0", "--sampling-frequency must be between 1 and 1000 Hz. Actual value: 0.")]
    [InlineData("--sampling-frequency 5000", "--sampling-frequency must be between 1 and 1000 Hz. Actual value: 5000.")]
    [InlineData("--profiling-duration 10x", "--profiling-duration '10x' is not a duration")]
    [InlineData("--profiling-duration 100ms", "--profiling-duration must be between 1s and 1h")]
    [InlineData("--remote-store-address ftp://kiln:7070", "--remote-store-address 'ftp://kiln:7070' is not an http:// or https:// URL")]
    [InlineData("--buffer-size 0", "--buffer-size 0 is outside [1, 100000]")]
    [InlineData("--http-address nowhere", "--http-address 'nowhere' is not host:port")]
    [InlineData("--config-path /nonexistent/kiln.yaml", "--config-path '/nonexistent/kiln.yaml' does not exist")]
    public async Task A_bad_flag_value_is_named_with_what_is_allowed(string flags, string message)
    {
        var result = await ExternalProcess.KilnAsync(["agent", .. flags.Split(' ')]);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_flag_value_of_the_wrong_type_is_named()
    {
        var result = await ExternalProcess.KilnAsync("agent", "--sampling-frequency", "fast");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("fast", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("--sampling-frequency", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_relabel_regex_is_named_with_its_rule_and_the_regex_error()
    {
        var config = Path.Combine(KilnProcess.CreateTempDirectory("kiln-config-"), "agent.yaml");
        await File.WriteAllTextAsync(config, """
            relabel_configs:
              - source_labels: [comm]
                action: keep
                regex: 'kiln.*'
              - source_labels: [comm]
                regex: '(unclosed'
                action: drop
            """);
        var result = await ExternalProcess.KilnAsync("agent", "--config-path", config);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("relabel_configs[1]", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("(unclosed", result.Stderr, StringComparison.Ordinal);
    }
}
