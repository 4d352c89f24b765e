using System.CommandLine;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Core.Sizes;

namespace StoragePool.Cli;

/// <summary><c>storagepool volume create|list|show|resize|delete|clone|revert|nbd-uri|disk-xml</c>.</summary>
internal static class Volumes
{
    private const string SizeHelp =
        "The size: a number with an optional unit, e.g. 512M, 10G, 1.5T or 10GiB (units are powers of 1024; rounded up to 4 KiB)";

    public static Command Command(CliContext cli) => CliContext.Group(
        new Command("volume", "Volumes: thin block devices in a pool, named POOL/NAME")
        {
            Create(cli), List(cli), ShowVolume(cli), Resize(cli), Delete(cli), Clone(cli), Revert(cli), NbdUri(cli), DiskXml(cli),
            Copy(cli), Export(cli), Import(cli),
        },
        ["storagepool volume create vms/db1 10G", "storagepool volume list vms"]);

    private static Command Create(CliContext cli)
    {
        var volume = VolumeArgument("The new volume, as POOL/NAME");
        var size = new Argument<string>("SIZE") { Description = SizeHelp };
        return cli.Run(new Command("create", "Create a thin volume; it takes space only as it is written") { volume, size },
            ["storagepool volume create vms/db1 10G"],
            async (r, client, ct) =>
            {
                var target = VolumeRef.Parse(r.GetRequiredValue(volume));
                var change = await client.CreateVolumeAsync(target, ByteSize.Parse(r.GetRequiredValue(size)), ct);
                Report(cli, change, $"created volume {target} ({ByteSize.Format(change.Volume.SizeBytes)})");
            });
    }

    private static Command Copy(CliContext cli)
    {
        var source = new Argument<string>("SOURCE") { Description = "The volume (POOL/NAME) or snapshot (POOL/NAME@SNAP) to copy" };
        var to = new Option<string>("--to") { Description = "The destination daemon's --listen address, e.g. http://10.0.0.2:7100", Required = true };
        var @as = new Option<string?>("--as") { Description = "The copy's name on the destination, POOL/NAME (default: the source's)" };
        var streams = new Option<int?>("--streams") { Description = "Parallel streams (default 8, chosen by measurement)" };
        var compress = new Option<string?>("--compress") { Description = "auto (when the link is slower than zstd), zstd or none" };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "Cap the rate, bytes per second, e.g. 200M" };
        var chunkSize = new Option<string?>("--chunk-size") { Description = "Chunk size, 64K to 64M (default 4M)" };
        var incremental = new Option<bool>("--incremental") { Description = "The destination holds an older copy: send only the chunks that differ" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the destination volume if it exists" };
        var noWait = Jobs.NoWaitOption();
        var json = CliContext.JsonOption();
        return cli.Run(new Command("copy", "Copy a volume to another daemon: only allocated data, checksummed, parallel, resumable; "
            + "a volume in use is copied from a snapshot taken at the start")
        { source, to, @as, streams, compress, bandwidth, chunkSize, incremental, overwrite, noWait, json },
            ["storagepool volume copy vms/db1 --to http://10.0.0.2:7100",
             "storagepool volume copy vms/db1@monday --to http://10.0.0.2:7100 --as vms/db1-monday --bandwidth 200M",
             "storagepool volume copy vms/db1 --to http://10.0.0.2:7100 --incremental"],
            async (r, client, ct) =>
            {
                var job = await client.StartJobAsync(new StartJobRequest(JobKinds.Copy, Source: r.GetRequiredValue(source),
                    Target: r.GetValue(@as), To: r.GetRequiredValue(to), Streams: r.GetValue(streams), Compress: r.GetValue(compress),
                    BandwidthBytesPerSecond: Jobs.Bandwidth(r.GetValue(bandwidth)), ChunkSizeBytes: ChunkSize(r.GetValue(chunkSize)),
                    Incremental: r.GetValue(incremental), Overwrite: r.GetValue(overwrite)), ct);
                await Jobs.FollowAsync(cli, client, job, r.GetValue(json), !r.GetValue(noWait), ct);
            });
    }

    private static Command Export(CliContext cli)
    {
        var source = new Argument<string>("SOURCE") { Description = "The volume (POOL/NAME) or snapshot (POOL/NAME@SNAP) to export" };
        var file = new Argument<string>("FILE") { Description = "The stream file to write (the daemon writes it; it must not exist)" };
        var compress = new Option<string?>("--compress") { Description = "auto, zstd or none (default auto)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace FILE if it exists" };
        var json = CliContext.JsonOption();
        return cli.Run(new Command("export", "Write a volume to a self-describing, sparse, checksummed stream file") { source, file, compress, overwrite, json },
            ["storagepool volume export vms/db1 /srv/backup/db1.spvol", "storagepool volume export vms/db1@monday /srv/backup/db1-monday.spvol --compress zstd"],
            async (r, client, ct) =>
            {
                var job = await client.StartJobAsync(new StartJobRequest(JobKinds.Export, Source: r.GetRequiredValue(source),
                    Path: Path.GetFullPath(r.GetRequiredValue(file)), Compress: r.GetValue(compress), Overwrite: r.GetValue(overwrite)), ct);
                await Jobs.FollowAsync(cli, client, job, r.GetValue(json), wait: true, ct);
            });
    }

    private static Command Import(CliContext cli)
    {
        var file = new Argument<string>("FILE") { Description = "A stream file made by 'storagepool volume export'" };
        var volume = VolumeArgument("The new volume, as POOL/NAME");
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the volume if it exists" };
        var json = CliContext.JsonOption();
        return cli.Run(new Command("import", "Create a volume from a stream file, verifying every chunk and the whole-volume digest") { file, volume, overwrite, json },
            ["storagepool volume import /srv/backup/db1.spvol vms/db1-restored"],
            async (r, client, ct) =>
            {
                var job = await client.StartJobAsync(new StartJobRequest(JobKinds.Import, Target: r.GetRequiredValue(volume),
                    Path: Path.GetFullPath(r.GetRequiredValue(file)), Overwrite: r.GetValue(overwrite)), ct);
                await Jobs.FollowAsync(cli, client, job, r.GetValue(json), wait: true, ct);
            });
    }

    private static int? ChunkSize(string? text) =>
        text is null ? null : (int)Math.Min(int.MaxValue, ByteSize.Parse(text));

    private static Command List(CliContext cli)
    {
        var pool = new Argument<string?>("POOL") { Description = "Only this pool's volumes", Arity = ArgumentArity.ZeroOrOne };
        var json = CliContext.JsonOption();
        return cli.Run(new Command("list", "List the volumes of all pools, or of one") { pool, json },
            ["storagepool volume list", "storagepool volume list vms --json"],
            async (r, client, ct) =>
            {
                var only = r.GetValue(pool) is { } name ? Names.Validate(NameKind.Pool, name) : null;
                var volumes = await client.ListVolumesAsync(only, ct);
                cli.Output.List(volumes, r.GetValue(json), ApiJsonContext.Default.IReadOnlyListVolumeInfo, Views.VolumeColumns);
            });
    }

    private static Command ShowVolume(CliContext cli)
    {
        var volume = VolumeArgument("The volume, as POOL/NAME");
        var json = CliContext.JsonOption();
        return cli.Run(new Command("show", "Show a volume: its size, the space it takes and its snapshots' count") { volume, json },
            ["storagepool volume show vms/db1", "storagepool volume show vms/db1 --json"],
            async (r, client, ct) =>
            {
                var info = await client.GetVolumeAsync(VolumeRef.Parse(r.GetRequiredValue(volume)), ct);
                cli.Output.Item(info, r.GetValue(json), ApiJsonContext.Default.VolumeInfo, Views.Details);
            });
    }

    private static Command Resize(CliContext cli)
    {
        var volume = VolumeArgument("The volume, as POOL/NAME");
        var size = new Argument<string>("SIZE") { Description = "The new " + char.ToLowerInvariant(SizeHelp[0]) + SizeHelp[1..] };
        var allowShrink = new Option<bool>("--allow-shrink")
        {
            Description = "Allow a smaller size; the data past the new end is lost",
        };
        return cli.Run(new Command("resize", "Grow a volume, or shrink it with --allow-shrink") { volume, size, allowShrink },
            ["storagepool volume resize vms/db1 20G", "storagepool volume resize vms/db1 5G --allow-shrink"],
            async (r, client, ct) =>
            {
                var target = VolumeRef.Parse(r.GetRequiredValue(volume));
                var change = await client.ResizeVolumeAsync(target, ByteSize.Parse(r.GetRequiredValue(size)),
                    r.GetValue(allowShrink), ct);
                Report(cli, change, $"resized {target} to {ByteSize.Format(change.Volume.SizeBytes)}");
            });
    }

    private static Command Delete(CliContext cli)
    {
        var volume = VolumeArgument("The volume, as POOL/NAME");
        var withSnapshots = new Option<bool>("--with-snapshots")
        {
            Description = "Delete the volume's snapshots too; without it a volume with snapshots is kept",
        };
        var force = new Option<bool>("--force")
        {
            Description = "Disconnect the volume's clients (NBD, FUSE) first; without it a volume in use is kept",
        };
        return cli.Run(new Command("delete", "Delete a volume and its data") { volume, withSnapshots, force },
            ["storagepool volume delete vms/db1", "storagepool volume delete vms/db1 --with-snapshots --force"],
            async (r, client, ct) =>
            {
                var target = VolumeRef.Parse(r.GetRequiredValue(volume));
                await client.DeleteVolumeAsync(target, r.GetValue(withSnapshots), r.GetValue(force), ct);
                cli.Output.Done($"deleted volume {target}");
            });
    }

    private static Command NbdUri(CliContext cli)
    {
        var export = new Argument<string>("POOL/NAME[@SNAP]") { Description = "The volume, or a snapshot (exported read-only)" };
        var tcp = new Option<bool>("--tcp") { Description = "The TCP URI (the daemon must run with --nbd-listen) instead of the unix socket's" };
        var json = CliContext.JsonOption();
        return cli.Run(new Command("nbd-uri", "Print the NBD URI of a volume or snapshot, for qemu-img, nbdinfo, nbdcopy or QEMU") { export, tcp, json },
            ["storagepool volume nbd-uri vms/db1", "qemu-img info \"$(storagepool volume nbd-uri vms/db1)\"",
                "storagepool volume nbd-uri vms/db1@before-upgrade --tcp"],
            async (r, client, ct) =>
            {
                var name = r.GetRequiredValue(export);
                var info = await client.GetExportAsync(name.Contains('@', StringComparison.Ordinal)
                    ? SnapshotRef.Parse(name).ToString() : VolumeRef.Parse(name).ToString(), ct);
                if (r.GetValue(json))
                {
                    cli.Output.Json(info, ApiJsonContext.Default.ExportInfo);
                    return;
                }
                var uri = r.GetValue(tcp) ? info.Uris.Skip(1).FirstOrDefault() : info.Uris[0];
                cli.Output.Done(uri ?? throw new StoragePoolException(ErrorCode.Unsupported,
                    "the daemon serves NBD on its unix socket only; start it with --nbd-listen ADDR:PORT for TCP"));
            });
    }

    private static Command DiskXml(CliContext cli)
    {
        var volume = VolumeArgument("The volume, as POOL/NAME");
        var nbd = new Option<bool>("--nbd") { Description = "A network disk over the daemon's NBD unix socket: the fast path (the default)" };
        var file = new Option<bool>("--file") { Description = "A volume of the pool's libvirt dir pool: the FUSE file" };
        var target = new Option<string>("--target") { Description = "The device name in the guest", DefaultValueFactory = _ => "vdb" };
        return cli.Run(new Command("disk-xml", "Print a <disk> element that gives a volume to a libvirt domain") { volume, nbd, file, target },
            ["storagepool volume disk-xml vms/db1 --target vdb > disk.xml && virsh attach-device web1 disk.xml --live",
                "storagepool volume disk-xml vms/db1 --file --target vdc"],
            async (r, client, ct) =>
            {
                if (r.GetValue(nbd) && r.GetValue(file))
                {
                    throw new StoragePoolException(ErrorCode.InvalidArgument, "give --nbd or --file, not both");
                }
                var xml = await client.GetDiskXmlAsync(VolumeRef.Parse(r.GetRequiredValue(volume)), r.GetValue(file) ? "file" : "nbd",
                    r.GetRequiredValue(target), ct);
                cli.Output.Done(xml.Xml);
            });
    }

    private static Command Clone(CliContext cli)
    {
        var snapshot = Snapshots.SnapshotArgument("The snapshot to clone, as POOL/NAME@SNAP");
        var target = VolumeArgument("The new volume, as POOL/NAME");
        return cli.Run(new Command("clone", "Create a new volume from a snapshot") { snapshot, target },
            ["storagepool volume clone vms/db1@before-upgrade vms/db1-test"],
            async (r, client, ct) =>
            {
                var source = SnapshotRef.Parse(r.GetRequiredValue(snapshot));
                var clone = await client.CloneVolumeAsync(source, VolumeRef.Parse(r.GetRequiredValue(target)), ct);
                cli.Output.Done($"cloned {source} to volume {clone.Pool}/{clone.Name} ({ByteSize.Format(clone.SizeBytes)})");
            });
    }

    private static Command Revert(CliContext cli)
    {
        var snapshot = Snapshots.SnapshotArgument("The snapshot to go back to, as POOL/NAME@SNAP");
        return cli.Run(new Command("revert", "Put a volume back to a snapshot; what was written since is lost") { snapshot },
            ["storagepool volume revert vms/db1@before-upgrade"],
            async (r, client, ct) =>
            {
                var source = SnapshotRef.Parse(r.GetRequiredValue(snapshot));
                var reverted = await client.RevertVolumeAsync(source, ct);
                cli.Output.Done($"reverted {reverted.Pool}/{reverted.Name} to snapshot {source.Name} "
                    + $"({ByteSize.Format(reverted.SizeBytes)})");
            });
    }

    private static Argument<string> VolumeArgument(string description) =>
        new("POOL/NAME") { Description = description };

    private static void Report(CliContext cli, VolumeChange change, string done)
    {
        foreach (var note in change.Notes)
        {
            cli.Output.Note(note);
        }
        cli.Output.Done(done);
    }
}
