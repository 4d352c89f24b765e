using StoragePool.IntegrationTests.Harness;
using StoragePool.Testing;

namespace StoragePool.IntegrationTests.Libvirt;

/// <summary>
/// How a test domain's type is chosen: KVM only when QEMU's user can open the KVM device, TCG otherwise, and why.
/// The probe itself runs for real, as libvirt-qemu, on files given the modes a fresh machine's /dev/kvm and a host's have.
/// </summary>
public class GuestAcceleratorTests
{
    private const string Device = KvmProbe.KvmDevice;
    private const string User = KvmProbe.QemuUser;

    [Test]
    public void Only_a_device_that_the_qemu_user_opened_read_write_gives_a_kvm_domain()
    {
        var chosen = GuestAccelerator.Choose(new KvmProbe(Device, User, DeviceExists: true, UserExists: true, Opened: true, "crw-rw---- root:kvm"));
        Assert.That(chosen.DomainType, Is.EqualTo("kvm"));
        Assert.That(chosen.ToString(), Is.EqualTo("domain type 'kvm': KVM: libvirt-qemu, the user QEMU runs as, opened /dev/kvm read-write (crw-rw---- root:kvm)"));
    }

    [Test]
    public void A_kvm_device_that_only_root_can_open_gives_a_tcg_domain_and_says_what_a_host_would_have_done()
    {
        var chosen = GuestAccelerator.Choose(new KvmProbe(Device, User, DeviceExists: true, UserExists: true, Opened: false,
            "crw------- root:root; probe: 1: cannot create /dev/kvm: Permission denied"));
        Assert.That(chosen.DomainType, Is.EqualTo("qemu"));
        Assert.That(chosen.Reason, Does.StartWith("TCG: libvirt-qemu, the user QEMU runs as, cannot open /dev/kvm read-write")
            .And.Contain("crw------- root:root").And.Contain("Permission denied").And.Contain("group kvm with mode 0660"));
    }

    [Test]
    public void No_kvm_device_gives_a_tcg_domain()
    {
        var chosen = GuestAccelerator.Choose(new KvmProbe(Device, User, DeviceExists: false, UserExists: false, Opened: false, "no such file"));
        Assert.That(chosen.DomainType, Is.EqualTo("qemu"));
        Assert.That(chosen.Reason, Does.StartWith("TCG: this machine has no /dev/kvm"));
    }

    [Test]
    public void No_qemu_user_gives_a_tcg_domain()
    {
        var chosen = GuestAccelerator.Choose(new KvmProbe(Device, "nosuchqemu", DeviceExists: true, UserExists: false, Opened: false,
            "crw-rw---- root:kvm; id: 'nosuchqemu': no such user"));
        Assert.That(chosen.DomainType, Is.EqualTo("qemu"));
        Assert.That(chosen.Reason, Does.StartWith("TCG: there is no user 'nosuchqemu'"));
    }

    [Test]
    public async Task The_probe_opens_as_the_qemu_user_with_its_groups_and_needs_read_and_write()
    {
        if (Environment.UserName != "root")
        {
            Assert.Ignore($"giving a file to group kvm and switching to {User} needs root; this runs as '{Environment.UserName}'");
        }
        using var directory = new TestDirectory();
        // libvirt-qemu must pass through the test's directory, as through /dev
        File.SetUnixFileMode(directory.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);

        // as on a fresh machine: root's alone (root could open it; the probe must not count that)
        var fresh = await DeviceLikeAsync(directory, "fresh", "root", "600");
        var probe = await KvmProbe.RunAsync(fresh, User);
        Assert.That((probe.DeviceExists, probe.UserExists, probe.Opened), Is.EqualTo((true, true, false)), probe.ToString());
        Assert.That(probe.Detail, Does.StartWith("-rw------- root:root; ").And.Contain("Permission denied"));
        Assert.That(GuestAccelerator.Choose(probe).DomainType, Is.EqualTo("qemu"));

        // as a host's udev leaves /dev/kvm: group kvm, 0660 (libvirt-daemon-system puts libvirt-qemu in kvm)
        var host = await DeviceLikeAsync(directory, "host", "kvm", "660");
        probe = await KvmProbe.RunAsync(host, User);
        Assert.That(probe.Opened, Is.True, probe.ToString());
        Assert.That(probe.Detail, Is.EqualTo("-rw-rw---- root:kvm"));
        Assert.That(GuestAccelerator.Choose(probe).DomainType, Is.EqualTo("kvm"));

        // reading alone is not enough: QEMU opens /dev/kvm read-write
        var readOnly = await DeviceLikeAsync(directory, "read-only", "kvm", "640");
        Assert.That((await KvmProbe.RunAsync(readOnly, User)).Opened, Is.False);

        Assert.That((await KvmProbe.RunAsync(directory.File("missing"), User)).DeviceExists, Is.False);
        Assert.That((await KvmProbe.RunAsync(host, "storagepool-no-such-user")).UserExists, Is.False);
    }

    private static async Task<string> DeviceLikeAsync(TestDirectory directory, string name, string group, string mode)
    {
        var path = directory.File(name);
        await File.WriteAllBytesAsync(path, []);
        await Tools.OutputAsync("chown", $"root:{group}", path);
        await Tools.OutputAsync("chmod", mode, path);
        return path;
    }
}
