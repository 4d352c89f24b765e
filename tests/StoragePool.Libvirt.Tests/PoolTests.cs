using System.Xml.Linq;

namespace StoragePool.Libvirt.Tests;

/// <summary>
/// Connections and pools against libvirt's in-process test driver (<c>test:///default</c>: no daemon, one
/// active dir pool <c>default-pool</c>). Connections open at the same time share one in-memory host, which
/// is thrown away when the last connection and the last object from it are released: every test disposes
/// all it opened, so the next one starts fresh.
/// </summary>
public sealed class PoolTests
{
    internal const string TestUri = "test:///default";

    [Test]
    public void A_connection_reports_its_uri_and_libvirts_version_and_is_unusable_once_closed()
    {
        var connection = LibvirtConnection.Open(TestUri);
        Assert.That(connection.Uri, Is.EqualTo(TestUri));
        Assert.That(connection.LibraryVersion, Is.GreaterThanOrEqualTo(new Version(9, 0, 0)));
        Assert.That(connection.IsAlive, Is.True, "an in-process driver is always there");

        connection.Dispose();
        Assert.That(() => connection.ListPools(), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void The_test_driver_lists_its_active_default_pool()
    {
        using var connection = LibvirtConnection.Open(TestUri);
        var pools = connection.ListPools();
        try
        {
            Assert.That(pools.Select(p => p.Name), Is.EqualTo(new[] { "default-pool" }));
            var pool = pools[0];
            Assert.That(pool.IsActive, Is.True);
            var info = pool.GetInfo();
            Assert.That(info.State, Is.EqualTo(PoolState.Running));
            Assert.That(info.Capacity, Is.GreaterThan(0));
            Assert.That(info.Allocation + info.Available, Is.EqualTo(info.Capacity));
            Assert.That(XElement.Parse(pool.GetXml()).Attribute("type")?.Value, Is.EqualTo("dir"));
        }
        finally
        {
            foreach (var pool in pools)
            {
                pool.Dispose();
            }
        }
    }

    [Test]
    public void A_dir_pool_is_defined_started_set_to_autostart_refreshed_stopped_and_undefined()
    {
        using var connection = LibvirtConnection.Open(TestUri);
        using (var pool = connection.DefinePool(PoolXml.Dir("sp-dir", "/srv/storagepool/sp-dir")))
        {
            Assert.That(pool.Name, Is.EqualTo("sp-dir"));
            Assert.That(pool.IsActive, Is.False);
            Assert.That(pool.GetInfo().State, Is.EqualTo(PoolState.Inactive));
            // (the test driver refuses GetXml(inactive: true): "unsupported flags (0x1)")
            var xml = XElement.Parse(pool.GetXml());
            Assert.That(xml.Attribute("type")?.Value, Is.EqualTo("dir"));
            Assert.That(xml.Element("target")?.Element("path")?.Value, Is.EqualTo("/srv/storagepool/sp-dir"));

            pool.Start();
            Assert.That(pool.IsActive, Is.True);
            Assert.That(pool.GetInfo().State, Is.EqualTo(PoolState.Running));

            Assert.That(pool.Autostart, Is.False);
            pool.Autostart = true;
            Assert.That(pool.Autostart, Is.True);
            pool.Refresh();

            pool.Destroy();
            Assert.That(pool.IsActive, Is.False);
            pool.Undefine();
        }
        Assert.That(connection.LookupPool("sp-dir"), Is.Null);
        Assert.That(Names(connection), Does.Not.Contain("sp-dir"));
    }

    [Test]
    public void Connections_open_together_share_the_test_host_and_a_later_one_starts_fresh()
    {
        using (var first = LibvirtConnection.Open(TestUri))
        using (var second = LibvirtConnection.Open(TestUri))
        {
            first.DefinePool(PoolXml.Dir("sp-seen", "/srv/sp-seen")).Dispose();
            using var found = second.LookupPool("sp-seen");
            Assert.That(found?.Name, Is.EqualTo("sp-seen"));
        }

        using var later = LibvirtConnection.Open(TestUri);
        Assert.That(later.LookupPool("sp-seen"), Is.Null);
    }

    [Test]
    public void A_pool_name_with_xml_special_characters_survives_the_round_trip_through_libvirt()
    {
        const string odd = "o'dd <pool> & \"name\"";
        using var connection = LibvirtConnection.Open(TestUri);
        using var pool = connection.DefinePool(PoolXml.Dir(odd, "/srv/a&b <c>"));
        Assert.That(pool.Name, Is.EqualTo(odd));
        using var found = connection.LookupPool(odd);
        Assert.That(found, Is.Not.Null);
        Assert.That(XElement.Parse(found!.GetXml()).Element("target")?.Element("path")?.Value, Is.EqualTo("/srv/a&b <c>"));
    }

    /// <summary>The names of all pools, each pool released at once (a live pool keeps the test host alive).</summary>
    internal static string[] Names(LibvirtConnection connection)
    {
        var pools = connection.ListPools();
        var names = pools.Select(p => p.Name).ToArray();
        foreach (var pool in pools)
        {
            pool.Dispose();
        }
        return names;
    }
}
