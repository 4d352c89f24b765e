using StoragePool.Core.Errors;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Cli;

/// <summary>Every command's <c>--help</c> ends with an example; no daemon is needed for help.</summary>
public sealed class HelpTests
{
    private static readonly string[] Commands =
    [
        "",
        "store", "store add", "store list", "store remove",
        "pool", "pool create", "pool list", "pool show", "pool delete",
        "volume", "volume create", "volume list", "volume show", "volume resize", "volume delete", "volume clone", "volume revert", "volume nbd-uri",
        "snapshot", "snapshot create", "snapshot list", "snapshot delete",
        "status",
    ];

    [TestCaseSource(nameof(Commands))]
    public async Task Help_of_every_command_shows_an_example(string command)
    {
        string[] words = command.Length == 0 ? [] : command.Split(' ');

        var result = await Tools.RunAsync(Repo.Cli, [.. words, "--help"]);

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        Assert.That(result.Stdout, Does.Contain("Usage:").And.Contain("Example"), result.ToString());
        Assert.That(result.Stdout, Does.Contain($"  storagepool {command}".TrimEnd()), "the example uses this command");
    }

    [Test]
    public async Task A_parse_error_keeps_the_usage_and_exits_with_invalid_argument()
    {
        var result = await Tools.RunAsync(Repo.Cli, "volume", "create");

        Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.InvalidArgument), result.ToString());
        Assert.That(result.Stderr, Does.Contain("POOL/NAME"));
        Assert.That(result.Stdout, Does.Contain("Usage:"));
    }

    [TestCase("--bogus", "volume", "list", "")]
    [TestCase("-x", "pool", "create", "--store s1")]
    [TestCase("-x", "volume", "create", "1G")]
    public async Task An_unknown_option_is_called_so_and_not_taken_for_a_name(string option, string noun, string verb, string more)
    {
        var result = await Tools.RunAsync(Repo.Cli, [noun, verb, option, .. more.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

        Assert.That(result.ExitCode, Is.EqualTo((int)ErrorCode.InvalidArgument), result.ToString());
        Assert.That(result.Stderr.Trim(), Is.EqualTo($"storagepool: error: unknown option '{option}'; see 'storagepool {noun} {verb} --help'"));
    }
}
