using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;
using static StoragePool.IntegrationTests.DBus.BusCommands;

namespace StoragePool.IntegrationTests.DBus;

/// <summary>
/// The D-Bus API as an admin meets it: a real storagepoold on a private dbus-daemon shaped like the
/// system bus with our policy file, driven by busctl and gdbus, checked through REST.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class DBusApiTests() : DaemonOnPrivateBus(BusPolicy.SystemWithOurPolicy)
{
    private const long MiB = 1024 * 1024;
    private static int _counter;

    [Test]
    public async Task The_daemon_owns_its_name_on_the_bus()
    {
        var list = await DBus.OkAsync("list", "--no-pager");

        var row = Rows(list).SingleOrDefault(r => r[0] == Service);
        Assert.That(row, Is.Not.Null, list);
        Assert.That(row![1], Is.EqualTo(Daemon.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)), "the owner is our daemon's PID");
    }

    [Test]
    public async Task Introspecting_the_manager_shows_its_methods_properties_signals_and_children()
    {
        var rows = Rows(await DBus.OkAsync("introspect", "--no-pager", Service, Root));

        Assert.That(rows, Has.Some.EqualTo(new[] { Manager, "interface", "-", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".CreateVolume", "method", "sst", "oas", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".CreatePool", "method", "ss", "o", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".ListVolumes", "method", "s", "ao", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".GetStatus", "method", "-", "a{sv}", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".VolumeAdded", "signal", "oss", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".VolumeChanged", "signal", "oss", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".VolumeRemoved", "signal", "oss", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".PoolAdded", "signal", "os", "-", "-" }));
        Assert.That(rows.Single(r => r[0] == ".Version")[..3], Is.EqualTo(new[] { ".Version", "property", "s" }));
        Assert.That(rows.Single(r => r[0] == ".PoolCount")[..3], Is.EqualTo(new[] { ".PoolCount", "property", "u" }));

        var pool = await NewPoolAsync();
        var volume = await NewVolumeAsync(pool);
        var tree = await DBus.OkAsync("tree", "--no-pager", Service);
        Assert.That(tree, Does.Contain(PoolPath(pool)));
        Assert.That(tree, Does.Contain(VolumePath(pool, volume)));
    }

    [Test]
    public async Task Introspecting_a_pool_and_a_volume_shows_their_methods_and_property_values()
    {
        var pool = await NewPoolAsync();
        var volume = await NewVolumeAsync(pool, 3 * MiB);
        var info = await Daemon.Client.GetVolumeAsync(new VolumeRef(pool, volume));

        var rows = Rows(await DBus.OkAsync("introspect", "--no-pager", Service, VolumePath(pool, volume)));
        Assert.That(rows, Has.Some.EqualTo(new[] { Volume, "interface", "-", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Resize", "method", "tb", "as", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Delete", "method", "bb", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".NbdUris", "method", "s", "as", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".CreateSnapshot", "method", "s", "(ssttt)", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".ListSnapshots", "method", "-", "a(ssttt)", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Clone", "method", "sss", "o", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Revert", "method", "s", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".SizeBytes", "property", "t", (3 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Name", "property", "s", $"\"{volume}\"", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Pool", "property", "s", $"\"{pool}\"", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Id", "property", "s", $"\"{info.Id}\"", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".State", "property", "s", "\"ready\"", "-" }));

        rows = Rows(await DBus.OkAsync("introspect", "--no-pager", Service, PoolPath(pool)));
        Assert.That(rows, Has.Some.EqualTo(new[] { Pool, "interface", "-", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Delete", "method", "-", "-", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".VolumeCount", "property", "u", "1", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".Store", "property", "s", "\"local\"", "-" }));
        Assert.That(rows, Has.Some.EqualTo(new[] { ".ProvisionedBytes", "property", "t", (3 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), "-" }));
    }

    [Test]
    public async Task A_pool_and_a_volume_created_over_DBus_are_seen_through_REST_with_the_same_properties()
    {
        var pool = Unique("p");
        var volume = Unique("v");

        Assert.That(await DBus.CallAsync(Root, Manager, "CreatePool", "ss", pool, "local"), Is.EqualTo($"o \"{PoolPath(pool)}\"\n"));
        Assert.That(await DBus.CallAsync(Root, Manager, "CreateVolume", "sst", pool, volume, "8388608"),
            Is.EqualTo($"oas \"{VolumePath(pool, volume)}\" 0\n"));

        var rest = await Daemon.Client.GetVolumeAsync(new VolumeRef(pool, volume));
        Assert.That(rest.SizeBytes, Is.EqualTo(8 * MiB));
        var path = VolumePath(pool, volume);
        Assert.That(await DBus.PropertyAsync(path, Volume, "SizeBytes"), Is.EqualTo("8388608"));
        Assert.That(await DBus.PropertyAsync(path, Volume, "AllocatedBytes"), Is.EqualTo(rest.AllocatedBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(await DBus.PropertyAsync(path, Volume, "Id"), Is.EqualTo($"\"{rest.Id}\""));
        Assert.That(await DBus.PropertyAsync(path, Volume, "State"), Is.EqualTo($"\"{rest.State}\""));
        Assert.That(await DBus.PropertyAsync(path, Volume, "SnapshotCount"), Is.EqualTo("0"));

        var restPool = await Daemon.Client.GetPoolAsync(pool);
        Assert.That(await DBus.PropertyAsync(PoolPath(pool), Pool, "Name"), Is.EqualTo($"\"{pool}\""));
        Assert.That(await DBus.PropertyAsync(PoolPath(pool), Pool, "VolumeCount"), Is.EqualTo("1"));
        Assert.That(await DBus.PropertyAsync(PoolPath(pool), Pool, "ProvisionedBytes"), Is.EqualTo("8388608"));
        Assert.That(await DBus.PropertyAsync(PoolPath(pool), Pool, "CapacityBytes"),
            Is.EqualTo(restPool.CapacityBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)));

        Assert.That(await DBus.CallAsync(Root, Manager, "ListVolumes", "s", pool), Is.EqualTo($"ao 1 \"{path}\"\n"));
        Assert.That(await DBus.CallAsync(Root, Manager, "ListPools"), Does.Contain($"\"{PoolPath(pool)}\""));
        Assert.That(await DBus.CallAsync(Root, Manager, "GetVolume", "ss", pool, volume), Is.EqualTo($"o \"{path}\"\n"));

        var all = await DBus.OkAsync("--json=short", "call", Service, path, "org.freedesktop.DBus.Properties", "GetAll", "s", Volume);
        Assert.That(all, Does.Contain($"\"Name\":{{\"type\":\"s\",\"data\":\"{volume}\"}}"));
        Assert.That(all, Does.Contain("\"SizeBytes\":{\"type\":\"t\",\"data\":8388608}"));
    }

    [Test]
    public async Task A_volume_created_through_REST_is_an_object_on_the_bus_whose_path_escapes_its_name()
    {
        var pool = await NewPoolAsync();
        await Daemon.Client.CreateVolumeAsync(new VolumeRef(pool, "vm-1.img"), 4 * MiB);

        var path = $"{Root}/volumes/{pool}/vm_2d1_2eimg";
        Assert.That(await DBus.CallAsync(Root, Manager, "GetVolume", "ss", pool, "vm-1.img"), Is.EqualTo($"o \"{path}\"\n"));
        Assert.That(await DBus.PropertyAsync(path, Volume, "Name"), Is.EqualTo("\"vm-1.img\""));
        Assert.That(await DBus.PropertyAsync(path, Volume, "SizeBytes"), Is.EqualTo("4194304"));
    }

    [Test]
    public async Task Anyone_can_ask_for_the_nbd_uris_of_a_volume_and_its_snapshots()
    {
        var pool = await NewPoolAsync();
        var name = await NewVolumeAsync(pool, 2 * MiB);
        await Daemon.Client.CreateSnapshotAsync(new SnapshotRef(pool, name, "s1"));
        var path = VolumePath(pool, name);

        Assert.That(await DBus.CallAsync(path, Volume, "NbdUris", "s", ""),
            Is.EqualTo($"as 1 \"nbd+unix:///{pool}/{name}?socket={Daemon.NbdSocket}\"\n"));
        var asNobody = await DBus.BusctlAsNobodyAsync("call", Service, path, Volume, "NbdUris", "s", "s1");
        Assert.That(asNobody.ExitCode, Is.Zero, asNobody.ToString());
        Assert.That(asNobody.Stdout, Is.EqualTo($"as 1 \"nbd+unix:///{pool}/{name}@s1?socket={Daemon.NbdSocket}\"\n"));
        var (error, _) = await DBus.ErrorOfAsync(path, Volume, "NbdUris", "'nope'");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "SnapshotNotFound"));
    }

    [Test]
    public async Task Resize_snapshots_clone_revert_and_delete_over_DBus_change_the_volume()
    {
        var pool = await NewPoolAsync();
        var name = await NewVolumeAsync(pool, 2 * MiB);
        var volume = new VolumeRef(pool, name);
        var path = VolumePath(pool, name);

        Assert.That(await DBus.CallAsync(path, Volume, "Resize", "tb", "4194304", "false"), Is.EqualTo("as 0\n"));
        Assert.That((await Daemon.Client.GetVolumeAsync(volume)).SizeBytes, Is.EqualTo(4 * MiB));
        var rounded = await DBus.CallAsync(path, Volume, "Resize", "tb", "5000000", "false");
        Assert.That(rounded, Does.StartWith("as 1 \"").And.Contain("rounded up"), "the note about rounding comes back");

        var created = await DBus.CallAsync(path, Volume, "CreateSnapshot", "s", "before");
        Assert.That(created, Does.StartWith("(ssttt) \"before\" \""));
        var snapshots = await Daemon.Client.ListSnapshotsAsync(volume);
        Assert.That(snapshots.Select(s => s.Name), Is.EqualTo(new[] { "before" }));
        var listed = await DBus.CallAsync(path, Volume, "ListSnapshots");
        Assert.That(listed, Does.StartWith($"a(ssttt) 1 \"before\" \"{snapshots[0].Id}\" {snapshots[0].SizeBytes} "));
        Assert.That(await DBus.PropertyAsync(path, Volume, "SnapshotCount"), Is.EqualTo("1"));

        var clone = Unique("c");
        Assert.That(await DBus.CallAsync(path, Volume, "Clone", "sss", "before", "", clone), Is.EqualTo($"o \"{VolumePath(pool, clone)}\"\n"));
        Assert.That((await Daemon.Client.GetVolumeAsync(new VolumeRef(pool, clone))).SizeBytes, Is.EqualTo(snapshots[0].SizeBytes));

        await DBus.CallAsync(path, Volume, "Resize", "tb", "16777216", "false");
        await DBus.CallAsync(path, Volume, "Revert", "s", "before");
        Assert.That((await Daemon.Client.GetVolumeAsync(volume)).SizeBytes, Is.EqualTo(snapshots[0].SizeBytes), "reverting restores the snapshot's size");

        await DBus.CallAsync(path, Volume, "DeleteSnapshot", "s", "before");
        Assert.That(await Daemon.Client.ListSnapshotsAsync(volume), Is.Empty);

        await DBus.CallAsync(path, Volume, "Delete", "bb", "false", "false");
        var gone = await Assert.ThrowsAsync<StoragePoolException>(() => Daemon.Client.GetVolumeAsync(volume));
        Assert.That(gone!.Code, Is.EqualTo(ErrorCode.VolumeNotFound));

        await DBus.CallAsync(VolumePath(pool, clone), Volume, "Delete", "bb", "true", "false");
        await DBus.CallAsync(PoolPath(pool), Pool, "Delete");
        Assert.That((await Daemon.Client.ListPoolsAsync()).Select(p => p.Name), Does.Not.Contain(pool));
    }

    [Test]
    public async Task Stores_are_added_listed_and_removed_over_DBus()
    {
        var store = Unique("s");
        using var dir = new TestDirectory("sp-dbus-store-");
        var added = await DBus.CallAsync(Root, Manager, "AddStore", "ssdd", store, dir.Path, "2", "0");
        Assert.That(added, Does.StartWith($"(sssttttddu) \"{store}\" \"file\" \"{dir.Path}\" "));
        var rest = (await Daemon.Client.ListStoresAsync()).Single(s => s.Name == store);
        Assert.That(rest.OvercommitRatio, Is.EqualTo(2.0));
        Assert.That(await DBus.CallAsync(Root, Manager, "ListStores"), Does.Contain($"\"{store}\" \"file\" \"{dir.Path}\""));

        await DBus.CallAsync(Root, Manager, "RemoveStore", "s", store);
        Assert.That((await Daemon.Client.ListStoresAsync()).Select(s => s.Name), Does.Not.Contain(store));
    }

    [Test]
    public async Task Errors_come_back_with_our_error_names_and_the_messages_REST_gives()
    {
        var pool = await NewPoolAsync();
        var name = await NewVolumeAsync(pool, 4 * MiB);
        var path = VolumePath(pool, name);

        var (error, message) = await DBus.ErrorOfAsync(VolumePath(pool, "missing"), Volume, "Resize", "uint64 8388608", "false");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "VolumeNotFound"));
        var rest = await Assert.ThrowsAsync<StoragePoolException>(() => Daemon.Client.ResizeVolumeAsync(new VolumeRef(pool, "missing"), 8 * MiB, false));
        Assert.That(message, Is.EqualTo(rest!.Message));

        (error, message) = await DBus.ErrorOfAsync(path, Volume, "Resize", "uint64 1048576", "false");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "ShrinkNotAllowed"));
        Assert.That(message, Does.Contain(name).And.Contain("shrink"));
        Assert.That((await Daemon.Client.GetVolumeAsync(new VolumeRef(pool, name))).SizeBytes, Is.EqualTo(4 * MiB), "nothing changed");

        (error, message) = await DBus.ErrorOfAsync(Root, Manager, "CreateVolume", $"'{pool}'", "'bad name'", "uint64 4096");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "InvalidName"));
        Assert.That(message, Does.Contain("'bad name'"));

        (error, _) = await DBus.ErrorOfAsync(Root, Manager, "CreateVolume", $"'{pool}'", $"'{name}'", "uint64 4096");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "AlreadyExists"));

        (error, _) = await DBus.ErrorOfAsync(Root, Manager, "CreateVolume", "'no-such-pool'", "'v'", "uint64 4096");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PoolNotFound"));

        (error, _) = await DBus.ErrorOfAsync(path, Volume, "DeleteSnapshot", "'nope'");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "SnapshotNotFound"));

        (error, _) = await DBus.ErrorOfAsync(PoolPath(pool), Pool, "Delete");
        Assert.That(error, Is.EqualTo(ErrorPrefix + "PoolNotEmpty"));

        var wrongTypes = await DBus.BusctlAsync("call", Service, path, Volume, "Resize", "sb", "big", "false");
        Assert.That(wrongTypes.ExitCode, Is.Not.Zero);
        Assert.That(wrongTypes.Stderr, Does.Contain("Resize takes arguments of type 'tb', not 'sb'"));

        (error, _) = await DBus.ErrorOfAsync($"{Root}/nothing/here", "org.freedesktop.DBus.Introspectable", "Introspect");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.UnknownObject"));

        (error, _) = await DBus.ErrorOfAsync(VolumePath(pool, "missing"), "org.freedesktop.DBus.Properties", "Get", $"'{Volume}'", "'SizeBytes'");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.UnknownObject"));

        (error, _) = await DBus.ErrorOfAsync(path, Volume, "Explode");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.UnknownMethod"));

        (error, _) = await DBus.ErrorOfAsync(path, "org.freedesktop.DBus.Properties", "Set", $"'{Volume}'", "'SizeBytes'", "<uint64 1>");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.PropertyReadOnly"));
    }

    [Test]
    public async Task Signals_tell_when_pools_and_volumes_appear_change_and_vanish()
    {
        await using var monitor = await DBus.MonitorAsync();
        var pool = Unique("p");
        var name = Unique("v");
        var path = VolumePath(pool, name);

        await DBus.CallAsync(Root, Manager, "CreatePool", "ss", pool, "local");
        await monitor.WaitForSignalAsync($"PoolAdded {PoolPath(pool)} {pool}");

        await DBus.CallAsync(Root, Manager, "CreateVolume", "sst", pool, name, "1048576");
        await monitor.WaitForSignalAsync($"VolumeAdded {path} {pool} {name}");

        // Changes made through REST are signalled too.
        await Daemon.Client.ResizeVolumeAsync(new VolumeRef(pool, name), 2 * MiB, false);
        await monitor.WaitForSignalAsync($"VolumeChanged {path} {pool} {name}");

        await DBus.CallAsync(path, Volume, "CreateSnapshot", "s", "s1");
        await monitor.WaitForSignalAsync($"SnapshotAdded {path} {pool} {name} s1");

        await DBus.CallAsync(path, Volume, "Delete", "bb", "true", "false");
        await monitor.WaitForSignalAsync($"VolumeRemoved {path} {pool} {name}");

        Assert.That(monitor.Signals.Where(s => s.StartsWith("VolumeAdded ", StringComparison.Ordinal)), Is.EqualTo(new[] { $"VolumeAdded {path} {pool} {name}" }));
    }

    [Test]
    public async Task Someone_who_is_not_root_can_read_everything_but_change_nothing()
    {
        var pool = await NewPoolAsync();
        var name = await NewVolumeAsync(pool, 4 * MiB);
        var path = VolumePath(pool, name);

        var size = await DBus.BusctlAsNobodyAsync("get-property", Service, path, Volume, "SizeBytes");
        Assert.That(size.Stdout, Is.EqualTo("t 4194304\n"), size.ToString());
        var status = await DBus.BusctlAsNobodyAsync("call", Service, Root, Manager, "GetStatus");
        Assert.That(status.Stdout, Does.StartWith("a{sv} "), status.ToString());
        var list = await DBus.BusctlAsNobodyAsync("call", Service, Root, Manager, "ListVolumes", "s", pool);
        Assert.That(list.Stdout, Is.EqualTo($"ao 1 \"{path}\"\n"), list.ToString());
        var snapshots = await DBus.BusctlAsNobodyAsync("call", Service, path, Volume, "ListSnapshots");
        Assert.That(snapshots.Stdout, Is.EqualTo("a(ssttt) 0\n"), snapshots.ToString());
        var introspect = await DBus.BusctlAsNobodyAsync("introspect", "--no-pager", Service, path);
        Assert.That(introspect.Stdout, Does.Contain(".SizeBytes"), introspect.ToString());

        var (error, _) = await DBus.ErrorAsNobodyOfAsync(Root, Manager, "CreateVolume", $"'{pool}'", "'intruder'", "uint64 4096");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.AccessDenied"));
        (error, _) = await DBus.ErrorAsNobodyOfAsync(path, Volume, "Delete", "true", "false");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.AccessDenied"));
        (error, _) = await DBus.ErrorAsNobodyOfAsync(path, Volume, "Resize", "uint64 8388608", "true");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.AccessDenied"));
        (error, _) = await DBus.ErrorAsNobodyOfAsync(PoolPath(pool), Pool, "Delete");
        Assert.That(error, Is.EqualTo("org.freedesktop.DBus.Error.AccessDenied"));
        var busctl = await DBus.BusctlAsNobodyAsync("call", Service, Root, Manager, "CreateVolume", "sst", pool, "intruder", "4096");
        Assert.That(busctl.ExitCode, Is.Not.Zero);
        Assert.That(busctl.Stderr, Does.Contain("Access denied"));

        var volumes = await Daemon.Client.ListVolumesAsync(pool);
        Assert.That(volumes.Select(v => (v.Name, v.SizeBytes)), Is.EqualTo(new[] { (name, 4 * MiB) }), "nothing changed");
    }

    [Test]
    public async Task Many_calls_at_once_are_all_answered()
    {
        var pool = await NewPoolAsync();
        var names = Enumerable.Range(0, 10).Select(_ => Unique("v")).ToList();

        var calls = names.Select(n => DBus.BusctlAsync("call", Service, Root, Manager, "CreateVolume", "sst", pool, n, "1048576"))
            .Concat(names.Select(_ => DBus.BusctlAsync("call", Service, Root, Manager, "GetStatus")))
            .Concat(names.Select(_ => DBus.BusctlAsNobodyAsync("get-property", Service, PoolPath(pool), Pool, "Name")));
        var results = await Task.WhenAll(calls);

        Assert.That(results.Where(r => r.ExitCode != 0).Select(r => r.ToString()), Is.Empty);
        Assert.That((await Daemon.Client.ListVolumesAsync(pool)).Select(v => v.Name), Is.EquivalentTo(names));
        Assert.That(await DBus.PropertyAsync(PoolPath(pool), Pool, "VolumeCount"), Is.EqualTo("10"));
    }

    private async Task<string> NewPoolAsync()
    {
        var pool = Unique("p");
        await Daemon.Client.CreatePoolAsync(new CreatePoolRequest(pool, "local"));
        return pool;
    }

    private async Task<string> NewVolumeAsync(string pool, long sizeBytes = MiB)
    {
        var name = Unique("v");
        await Daemon.Client.CreateVolumeAsync(new VolumeRef(pool, name), sizeBytes);
        return name;
    }

    /// <summary>A name no other test uses, of letters and digits only (so its path element is itself).</summary>
    private static string Unique(string prefix) =>
        $"{prefix}{Interlocked.Increment(ref _counter)}x{Guid.NewGuid():N}"[..(prefix.Length + 10)];

    /// <summary>busctl's table output as rows of whitespace-separated cells.</summary>
    private static List<string[]> Rows(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToList();
}
