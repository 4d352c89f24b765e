using StoragePool.Core.Errors;

namespace StoragePool.Core.Tests;

public class ErrorCodesTests
{
    [Test]
    public void Every_code_has_a_distinct_id_dbus_name_and_exit_code_that_round_trip()
    {
        var codes = Enum.GetValues<ErrorCode>();
        Assert.That(codes.Select(c => c.Id()).Distinct().Count(), Is.EqualTo(codes.Length));
        Assert.That(codes.Select(c => c.ExitCode()).Distinct().Count(), Is.EqualTo(codes.Length));
        foreach (var code in codes)
        {
            Assert.That(ErrorCodes.TryParseId(code.Id(), out var back) && back == code, code.ToString());
            Assert.That(code.ExitCode(), Is.InRange(2, 125), "exit codes stay clear of 0, 1 (usage) and the shell's 126+");
        }
    }

    [Test]
    public void Codes_read_the_same_on_every_surface()
    {
        Assert.That(ErrorCode.VolumeNotFound.Id(), Is.EqualTo("volume_not_found"));
        Assert.That(ErrorCode.VolumeNotFound.DBusName(), Is.EqualTo("org.storagepool.StoragePool1.Error.VolumeNotFound"));
        Assert.That(ErrorCode.VolumeNotFound.HttpStatus(), Is.EqualTo(404));
        Assert.That(ErrorCode.VolumeNotFound.Errno(), Is.EqualTo(2));
        Assert.That(ErrorCode.NoSpace.Errno(), Is.EqualTo(28));
        Assert.That(ErrorCode.ShrinkNotAllowed.Errno(), Is.EqualTo(1));
    }
}
