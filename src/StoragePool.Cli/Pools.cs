using System.CommandLine;
using StoragePool.Api;
using StoragePool.Core.Naming;

namespace StoragePool.Cli;

/// <summary><c>storagepool pool create|list|show|delete|libvirt-xml</c>.</summary>
internal static class Pools
{
    public static Command Command(CliContext cli) => CliContext.Group(
        new Command("pool", "Pools: named groups of volumes, each on one store")
        {
            Create(cli), List(cli), ShowPool(cli), Delete(cli), LibvirtXml(cli),
        },
        ["storagepool pool create vms --store fast", "storagepool pool list"]);

    private static Command Create(CliContext cli)
    {
        var name = new Argument<string>("NAME") { Description = "The new pool's name" };
        var store = new Option<string>("--store")
        {
            Description = "The store that holds the pool's volumes",
            HelpName = "NAME",
            Required = true,
        };
        return cli.Run(new Command("create", "Create a pool on a store") { name, store },
            ["storagepool pool create vms --store fast"],
            async (r, client, ct) =>
            {
                var request = new CreatePoolRequest(
                    Names.Validate(NameKind.Pool, r.GetRequiredValue(name)),
                    Names.Validate(NameKind.Store, r.GetRequiredValue(store)));
                var pool = await client.CreatePoolAsync(request, ct);
                cli.Output.Done($"created pool {pool.Name} on store {pool.Store}");
            });
    }

    private static Command List(CliContext cli)
    {
        var json = CliContext.JsonOption();
        return cli.Run(new Command("list", "List the pools") { json },
            ["storagepool pool list", "storagepool pool list --json"],
            async (r, client, ct) =>
            {
                var pools = await client.ListPoolsAsync(ct);
                cli.Output.List(pools, r.GetValue(json), ApiJsonContext.Default.IReadOnlyListPoolInfo, Views.PoolColumns);
            });
    }

    private static Command ShowPool(CliContext cli)
    {
        var name = new Argument<string>("NAME") { Description = "The pool" };
        var json = CliContext.JsonOption();
        return cli.Run(new Command("show", "Show a pool: its store, volumes, snapshots and space") { name, json },
            ["storagepool pool show vms", "storagepool pool show vms --json"],
            async (r, client, ct) =>
            {
                var pool = await client.GetPoolAsync(Names.Validate(NameKind.Pool, r.GetRequiredValue(name)), ct);
                cli.Output.Item(pool, r.GetValue(json), ApiJsonContext.Default.PoolInfo, Views.Details);
            });
    }

    private static Command LibvirtXml(CliContext cli)
    {
        var name = new Argument<string>("POOL") { Description = "The pool" };
        return cli.Run(new Command("libvirt-xml",
                "Print the <pool> XML of a libvirt dir pool on the pool's FUSE directory, for virsh pool-define on a host that runs the daemon")
            { name },
            ["storagepool pool libvirt-xml vms > vms.xml && virsh pool-define vms.xml && virsh pool-start vms"],
            async (r, client, ct) =>
            {
                var xml = await client.GetPoolLibvirtXmlAsync(Names.Validate(NameKind.Pool, r.GetRequiredValue(name)), ct);
                cli.Output.Done(xml.Xml);
            });
    }

    private static Command Delete(CliContext cli)
    {
        var name = new Argument<string>("NAME") { Description = "The pool to delete; it must have no volumes" };
        return cli.Run(new Command("delete", "Delete a pool that has no volumes") { name },
            ["storagepool pool delete vms"],
            async (r, client, ct) =>
            {
                var pool = Names.Validate(NameKind.Pool, r.GetRequiredValue(name));
                await client.DeletePoolAsync(pool, ct);
                cli.Output.Done($"deleted pool {pool}");
            });
    }
}
