using System.CommandLine;
using StoragePool.Api;

namespace StoragePool.Cli;

/// <summary><c>storagepool status</c>: the whole daemon on one screen.</summary>
internal static class Status
{
    public static Command Command(CliContext cli)
    {
        var json = CliContext.JsonOption();
        return cli.Run(new Command("status", "Show the daemon's stores, pools, volumes and space on one screen") { json },
            ["storagepool status", "storagepool status --json"],
            async (r, client, ct) =>
            {
                var status = await client.GetStatusAsync(ct);
                if (r.GetValue(json))
                {
                    cli.Output.Json(status, ApiJsonContext.Default.StatusInfo);
                    return;
                }
                var volumes = await client.ListVolumesAsync(null, ct);
                cli.Output.Section("Summary", Views.Summary(status));
                cli.Output.Section("Stores", status.Stores, Views.StoreSummaryColumns);
                foreach (var store in status.Stores.Where(s => s.Warning is not null))
                {
                    cli.Output.Note($"store '{store.Name}': {store.Warning}");
                }
                cli.Output.Section("Pools", status.Pools, Views.PoolColumns);
                cli.Output.Section("Volumes", volumes, Views.VolumeSummaryColumns);
            });
    }
}
