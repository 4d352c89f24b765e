using System.CommandLine;
using StoragePool.Api;
using StoragePool.Core.Capacity;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;

namespace StoragePool.Cli;

/// <summary><c>storagepool store add|list|remove</c>.</summary>
internal static class Stores
{
    public static Command Command(CliContext cli) => CliContext.Group(
        new Command("store", "Stores: directories whose file system holds the volumes' data")
        {
            Add(cli), List(cli), Remove(cli),
        },
        ["storagepool store add fast --path /srv/storagepool", "storagepool store list"]);

    private static Command Add(CliContext cli)
    {
        var name = new Argument<string>("NAME") { Description = "The new store's name" };
        var path = new Option<string>("--path")
        {
            Description = "An existing directory; the store uses the file system it is on",
            HelpName = "DIR",
            Required = true,
        };
        var overcommit = new Option<double?>("--overcommit-ratio")
        {
            Description = $"How many times its capacity the volumes' sizes may add up to [default: {Admission.DefaultOvercommitRatio}]",
            HelpName = "R",
        };
        var watermark = new Option<double?>("--watermark")
        {
            Description = "Free space, in percent of capacity, below which new volumes and grows are refused "
                + $"[default: {Admission.DefaultWatermarkPercent}]",
            HelpName = "PERCENT",
        };
        return cli.Run(new Command("add", "Add a store at a directory") { name, path, overcommit, watermark },
            ["storagepool store add fast --path /srv/storagepool --overcommit-ratio 2 --watermark 10"],
            async (r, client, ct) =>
            {
                var dir = r.GetRequiredValue(path);
                if (cli.Connection.IsLocal(r))
                {
                    dir = Path.GetFullPath(dir); // the daemon does not share our working directory
                }
                var request = new AddStoreRequest(Names.Validate(NameKind.Store, r.GetRequiredValue(name)), dir,
                    r.GetValue(overcommit), r.GetValue(watermark));
                var store = await client.AddStoreAsync(request, ct);
                cli.Output.Done($"added store {store.Name} at {store.Path} ({ByteSize.Format(store.CapacityBytes)}, "
                    + $"{ByteSize.Format(store.FreeBytes)} free)");
            });
    }

    private static Command List(CliContext cli)
    {
        var json = CliContext.JsonOption();
        return cli.Run(new Command("list", "List the stores with their capacity, free space and what is provisioned in them") { json },
            ["storagepool store list", "storagepool store list --json"],
            async (r, client, ct) =>
            {
                var stores = await client.ListStoresAsync(ct);
                cli.Output.List(stores, r.GetValue(json), ApiJsonContext.Default.IReadOnlyListStoreInfo, Views.StoreColumns);
            });
    }

    private static Command Remove(CliContext cli)
    {
        var name = new Argument<string>("NAME") { Description = "The store to remove; it must have no pools" };
        return cli.Run(new Command("remove", "Remove a store that has no pools") { name },
            ["storagepool store remove fast"],
            async (r, client, ct) =>
            {
                var store = Names.Validate(NameKind.Store, r.GetRequiredValue(name));
                await client.RemoveStoreAsync(store, ct);
                cli.Output.Done($"removed store {store}");
            });
    }
}
