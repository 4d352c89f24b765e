using System.CommandLine;
using System.CommandLine.Parsing;
using StoragePool.Core.Errors;

namespace StoragePool.Cli;

/// <summary><c>storagepool</c>: the command line of the storagepoold daemon.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var context = new CliContext(Output.ForConsole());
        var root = new RootCommand("Manage storagepoold: stores of local capacity, pools carved from them, "
            + "thin volumes in the pools and their snapshots.")
        {
            Stores.Command(context),
            Pools.Command(context),
            Volumes.Command(context),
            Snapshots.Command(context),
            Jobs.Command(context),
            Status.Command(context),
        };
        context.Connection.AddTo(root);
        Examples.Add(root,
            "storagepool store add fast --path /srv/storagepool",
            "storagepool pool create vms --store fast",
            "storagepool volume create vms/db1 10G",
            "storagepool status");
        Examples.AddToHelp(root);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count == 0 && OptionLike(parsed) is { } token)
        {
            return context.Output.Error(new StoragePoolException(ErrorCode.InvalidArgument,
                $"unknown option '{token}'; see '{CommandPath(parsed)} --help'"));
        }
        var exit = await parsed.InvokeAsync();
        // the parser prints its errors with the usage; the exit code is the table's, as for every refused input
        return parsed.Errors.Count > 0 ? ErrorCode.InvalidArgument.ExitCode() : exit;
    }

    /// <summary>The command the line names, as typed: <c>storagepool volume list</c>.</summary>
    private static string CommandPath(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result is not null; result = result.Parent as CommandResult)
        {
            names.Add(result.Command is RootCommand ? "storagepool" : result.Command.Name);
        }
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>
    /// An argument's value that looks like an option ("--bogus", "-x"), or null: an argument such as POOL takes it unless
    /// told not to, and then complains about the pool's name. No name starts with '-'; "-5G" is left to be refused as
    /// a size.
    /// </summary>
    private static string? OptionLike(ParseResult parsed) =>
        parsed.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens)
            .FirstOrDefault(t => t.Value.Length > 1 && t.Value[0] == '-' && (t.Value[1] == '-' || char.IsLetter(t.Value[1])))?.Value;
}
