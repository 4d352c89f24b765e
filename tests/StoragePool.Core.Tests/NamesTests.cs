using FsCheck;
using FsCheck.Fluent;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;

namespace StoragePool.Core.Tests;

public class NamesTests
{
    [TestCase("db1")]
    [TestCase("a")]
    [TestCase("vm-101_disk.0")]
    [TestCase("_underscore_first")]
    [TestCase("0digit")]
    public void Valid_names_are_accepted(string name) => Assert.That(Names.IsValid(name), Is.True);

    [TestCase("", "is empty")]
    [TestCase(".hidden", "starts with '.'")]
    [TestCase("-flag", "starts with '-'")]
    [TestCase("has space", "contains the character U+0020")]
    [TestCase("a/b", "contains '/'")]
    [TestCase("a@b", "contains '@'")]
    [TestCase("dé", "contains 'é'")]
    public void Invalid_names_are_refused_with_the_reason(string name, string reason)
    {
        var e = Assert.Throws<StoragePoolException>(() => Names.Validate(NameKind.Volume, name))!;
        Assert.That(e.Code, Is.EqualTo(ErrorCode.InvalidName));
        Assert.That(e.Message, Does.Contain(reason).And.StartWith("volume name"));
    }

    [Test]
    public void Sixty_four_characters_is_the_limit()
    {
        Assert.That(Names.IsValid(new string('a', 64)), Is.True);
        Assert.That(Names.Problem(new string('a', 65)), Does.Contain("65 characters"));
    }

    [Test]
    public void A_name_is_valid_exactly_when_it_matches_the_rule()
    {
        const string alphabet = "aZ09._-/@ é";
        var gen = Gen.ListOf(Gen.Elements(alphabet.ToCharArray())).Select(cs => new string([.. cs]));
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), name =>
        {
            var expected = name.Length is >= 1 and <= 64 && name[0] is not ('.' or '-')
                && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
            return Names.IsValid(name) == expected;
        }));
    }

    [Test]
    public void A_reference_cannot_be_made_with_a_bad_name_whatever_made_it()
    {
        Assert.That(Assert.Throws<StoragePoolException>(() => _ = new VolumeRef("vms", "../x"))!.Code, Is.EqualTo(ErrorCode.InvalidName));
        Assert.That(Assert.Throws<StoragePoolException>(() => _ = new VolumeRef("v/ms", "x"))!.Message, Does.StartWith("pool name 'v/ms'"));
        Assert.That(Assert.Throws<StoragePoolException>(() => _ = new VolumeRef("vms", null))!.Message, Does.StartWith("volume name '(none)' is empty"));
        Assert.That(Assert.Throws<StoragePoolException>(() => _ = new SnapshotRef("vms", "db1", "a b"))!.Message, Does.StartWith("snapshot name 'a b'"));
    }

    [Test]
    public void Any_text_shown_as_a_name_has_no_control_characters_and_at_most_64_of_its_own()
    {
        var gen = Gen.ListOf(Gen.OneOf(Gen.Choose(0, 0x40).Select(i => (char)i), Gen.Elements('\\', '\'', 'a', '\u2028', '\ud800', 'é')))
            .Select(cs => new string([.. cs]));
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), name =>
        {
            var shown = Names.Display(name);
            return !shown.Any(c => char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029')
                && (name.Length <= 64 ? !shown.Contains("characters)", StringComparison.Ordinal) : shown.EndsWith($"({name.Length} characters)", StringComparison.Ordinal));
        }));
        Assert.That(Names.Display("a\nforged\0"), Is.EqualTo("a\\nforged\\u0000"));
        Assert.That(Names.Display(null), Is.EqualTo("(none)"));
    }

    [Test]
    public void Volume_and_snapshot_references_parse_into_their_parts()
    {
        Assert.That(VolumeRef.Parse("vms/db1"), Is.EqualTo(new VolumeRef("vms", "db1")));
        Assert.That(SnapshotRef.Parse("vms/db1@before"), Is.EqualTo(new SnapshotRef("vms", "db1", "before")));
        Assert.That(SnapshotRef.Parse("vms/db1@before").ToString(), Is.EqualTo("vms/db1@before"));
    }

    [TestCase("db1")]
    [TestCase("vms/db1@s")]
    [TestCase("vms/")]
    [TestCase("/db1")]
    [TestCase("a/b/c")]
    public void Malformed_volume_references_are_refused(string text)
    {
        var e = Assert.Throws<StoragePoolException>(() => VolumeRef.Parse(text))!;
        Assert.That(e.Code, Is.AnyOf(ErrorCode.InvalidArgument, ErrorCode.InvalidName));
    }

    [TestCase("vms/db1")]
    [TestCase("vms/db1@")]
    [TestCase("vms@s")]
    public void Malformed_snapshot_references_are_refused(string text)
    {
        var e = Assert.Throws<StoragePoolException>(() => SnapshotRef.Parse(text))!;
        Assert.That(e.Code, Is.AnyOf(ErrorCode.InvalidArgument, ErrorCode.InvalidName));
    }
}
