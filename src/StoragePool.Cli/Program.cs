using System.CommandLine;

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
        return await root.Parse(args).InvokeAsync();
    }
}
