using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Harness;

/// <summary>
/// What this machine offers a test domain's QEMU, found by doing what QEMU does: opening the KVM device read-write
/// as the user libvirt runs QEMU as, with that user's groups.
/// </summary>
/// <param name="Device">The KVM device, <c>/dev/kvm</c>.</param>
/// <param name="User">The user QEMU runs as under libvirt (Debian: <c>libvirt-qemu</c>, in group <c>kvm</c>).</param>
/// <param name="DeviceExists">Whether the device is there at all.</param>
/// <param name="UserExists">Whether the user exists.</param>
/// <param name="Opened">Whether the user opened the device for reading and writing.</param>
/// <param name="Detail">The device's mode and owner, and why the open failed when it did.</param>
public sealed record KvmProbe(string Device, string User, bool DeviceExists, bool UserExists, bool Opened, string Detail)
{
    public const string KvmDevice = "/dev/kvm";

    /// <summary>Debian's and Ubuntu's QEMU user under libvirt (libvirt-daemon-system makes it).</summary>
    public const string QemuUser = "libvirt-qemu";

    /// <summary>Opens <paramref name="device"/> read-write as <paramref name="user"/> (real and effective uid and gid, and its supplementary groups).</summary>
    public static async Task<KvmProbe> RunAsync(string device = KvmDevice, string user = QemuUser)
    {
        if (!File.Exists(device))
        {
            return new KvmProbe(device, user, DeviceExists: false, UserExists: false, Opened: false, "no such file");
        }
        var mode = (await Tools.OutputAsync("stat", "-c", "%A %U:%G", device)).Trim();
        var group = await Tools.RunAsync("id", "-g", user);
        if (group.ExitCode != 0)
        {
            return new KvmProbe(device, user, DeviceExists: true, UserExists: false, Opened: false, $"{mode}; {group.Stderr.Trim()}");
        }
        // sh's <> is open(O_RDWR | O_CREAT): on an existing device it is the open QEMU makes
        var open = await Tools.RunAsync("setpriv", $"--reuid={user}", $"--regid={group.Stdout.Trim()}", "--init-groups", "--",
            "sh", "-c", "exec 3<>\"$1\"", "probe", device);
        return new KvmProbe(device, user, DeviceExists: true, UserExists: true, open.ExitCode == 0,
            open.ExitCode == 0 ? mode : $"{mode}; {open.Stderr.Trim()}");
    }
}

/// <summary>
/// The domain type a test's VM gets: <c>kvm</c> only when QEMU's user can open <c>/dev/kvm</c> read-write, else
/// <c>qemu</c> (TCG, plain emulation), with the reason in words. libvirt is no guide here: libvirt 9.0 lists
/// <c>&lt;domain type='kvm'/&gt;</c> in its capabilities whenever the device exists, and the domain then fails at start
/// with "Could not access KVM kernel module: Permission denied".
/// </summary>
public sealed record GuestAccelerator(string DomainType, string Reason)
{
    public static GuestAccelerator Choose(KvmProbe probe)
    {
        ArgumentNullException.ThrowIfNull(probe);
        if (!probe.DeviceExists)
        {
            return new GuestAccelerator("qemu",
                $"TCG: this machine has no {probe.Device} (the kvm module is not loaded, or the CPU or the hypervisor offers no virtualization)");
        }
        if (!probe.UserExists)
        {
            return new GuestAccelerator("qemu",
                $"TCG: there is no user '{probe.User}' for QEMU to run as ({probe.Detail}; libvirt-daemon-system makes it)");
        }
        if (!probe.Opened)
        {
            return new GuestAccelerator("qemu",
                $"TCG: {probe.User}, the user QEMU runs as, cannot open {probe.Device} read-write ({probe.Detail}); a host's udev " +
                "gives it to group kvm with mode 0660, and scripts/test.sh does the same");
        }
        return new GuestAccelerator("kvm", $"KVM: {probe.User}, the user QEMU runs as, opened {probe.Device} read-write ({probe.Detail})");
    }

    /// <summary>Probes <c>/dev/kvm</c> as <c>libvirt-qemu</c> and chooses.</summary>
    public static async Task<GuestAccelerator> OfThisMachineAsync() => Choose(await KvmProbe.RunAsync());

    public override string ToString() => $"domain type '{DomainType}': {Reason}";
}
