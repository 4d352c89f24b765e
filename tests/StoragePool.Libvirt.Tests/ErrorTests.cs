using StoragePool.Core.Errors;

namespace StoragePool.Libvirt.Tests;

/// <summary>libvirt's errors become <see cref="LibvirtException"/> with libvirt's own code and message.</summary>
public sealed class ErrorTests
{
    [Test]
    public void Looking_up_what_does_not_exist_returns_null()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        Assert.That(connection.LookupPool("no-such-pool"), Is.Null);
        using var pool = connection.LookupPool("default-pool");
        Assert.That(pool, Is.Not.Null);
        Assert.That(pool!.LookupVolume("no-such-volume"), Is.Null);
        Assert.That(LibvirtDomain.Lookup(connection, "no-such-domain"), Is.Null);
    }

    [Test]
    public void Starting_an_active_pool_raises_libvirts_operation_invalid_error_with_its_message()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var pool = connection.LookupPool("default-pool")!;

        var error = Assert.Throws<LibvirtException>(pool.Start)!;
        Assert.That(error.LibvirtCode, Is.EqualTo(LibvirtErrorCodes.OperationInvalid));
        Assert.That(error.LibvirtMessage, Does.Contain("'default-pool' is active"));
        Assert.That(error.Message, Does.StartWith("starting storage pool 'default-pool' failed: ").And.Contain(error.LibvirtMessage));
        Assert.That(error.Code, Is.EqualTo(ErrorCode.Conflict));
        Assert.That(error.IsNotFound, Is.False);
    }

    [Test]
    public void Using_a_pool_that_was_undefined_meanwhile_raises_a_not_found_error()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        using var pool = connection.DefinePool(PoolXml.Dir("sp-gone", "/srv/sp-gone"));
        using (var other = connection.LookupPool("sp-gone")!)
        {
            other.Undefine();
        }

        var error = Assert.Throws<LibvirtException>(pool.Start)!;
        Assert.That(error.IsNotFound, Is.True);
        Assert.That(error.LibvirtCode, Is.EqualTo(LibvirtErrorCodes.NoStoragePool));
        Assert.That(error.Code, Is.EqualTo(ErrorCode.PoolNotFound));
        Assert.That(error.LibvirtMessage, Does.Contain("sp-gone"));
        Assert.That(error.LibvirtErrorDomain, Is.Not.Zero);
    }

    [Test]
    public void Defining_a_pool_from_malformed_xml_raises_libvirts_xml_error()
    {
        using var connection = LibvirtConnection.Open(PoolTests.TestUri);
        var error = Assert.Throws<LibvirtException>(() => connection.DefinePool("<pool type='dir'><name>x</name>"))!;
        Assert.That(error.LibvirtCode, Is.EqualTo(LibvirtErrorCodes.XmlDetail).Or.EqualTo(LibvirtErrorCodes.XmlError));
        Assert.That(error.Code, Is.EqualTo(ErrorCode.InvalidArgument));
        Assert.That(error.LibvirtMessage, Is.Not.Empty);
    }

    [Test]
    public void Opening_the_test_driver_on_a_missing_host_file_raises_an_error_naming_the_uri_and_the_file()
    {
        const string uri = "test:///nonexistent/sp-host.xml";
        var error = Assert.Throws<LibvirtException>(() => LibvirtConnection.Open(uri))!;
        Assert.That(error.Message, Does.StartWith($"connecting to libvirt at '{uri}' failed: "));
        Assert.That(error.LibvirtMessage, Does.Contain("/nonexistent/sp-host.xml"));
    }
}
