using System.CommandLine;
using StoragePool.Api;
using StoragePool.Core.Naming;

namespace StoragePool.Cli;

/// <summary><c>storagepool snapshot create|list|delete</c>.</summary>
internal static class Snapshots
{
    public static Command Command(CliContext cli) => CliContext.Group(
        new Command("snapshot", "Snapshots: read-only, point-in-time copies of a volume, named POOL/NAME@SNAP")
        {
            Create(cli), List(cli), Delete(cli),
        },
        ["storagepool snapshot create vms/db1@before-upgrade", "storagepool snapshot list vms/db1"]);

    public static Argument<string> SnapshotArgument(string description) =>
        new("POOL/NAME@SNAP") { Description = description };

    private static Command Create(CliContext cli)
    {
        var snapshot = SnapshotArgument("The new snapshot, as POOL/NAME@SNAP");
        return cli.Run(new Command("create", "Take a snapshot of a volume") { snapshot },
            ["storagepool snapshot create vms/db1@before-upgrade"],
            async (r, client, ct) =>
            {
                var target = SnapshotRef.Parse(r.GetRequiredValue(snapshot));
                await client.CreateSnapshotAsync(target, ct);
                cli.Output.Done($"created snapshot {target}");
            });
    }

    private static Command List(CliContext cli)
    {
        var volume = new Argument<string>("POOL/NAME") { Description = "The volume whose snapshots to list" };
        var json = CliContext.JsonOption();
        return cli.Run(new Command("list", "List a volume's snapshots") { volume, json },
            ["storagepool snapshot list vms/db1", "storagepool snapshot list vms/db1 --json"],
            async (r, client, ct) =>
            {
                var snapshots = await client.ListSnapshotsAsync(VolumeRef.Parse(r.GetRequiredValue(volume)), ct);
                cli.Output.List(snapshots, r.GetValue(json), ApiJsonContext.Default.IReadOnlyListSnapshotInfo, Views.SnapshotColumns);
            });
    }

    private static Command Delete(CliContext cli)
    {
        var snapshot = SnapshotArgument("The snapshot, as POOL/NAME@SNAP");
        return cli.Run(new Command("delete", "Delete a snapshot") { snapshot },
            ["storagepool snapshot delete vms/db1@before-upgrade"],
            async (r, client, ct) =>
            {
                var target = SnapshotRef.Parse(r.GetRequiredValue(snapshot));
                await client.DeleteSnapshotAsync(target, ct);
                cli.Output.Done($"deleted snapshot {target}");
            });
    }
}
