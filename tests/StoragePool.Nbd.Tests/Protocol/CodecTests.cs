using FsCheck;
using FsCheck.Fluent;
using StoragePool.Nbd.Protocol;

namespace StoragePool.Nbd.Tests.Protocol;

/// <summary>The wire format: every frame decodes to what was encoded, with the spec's byte values.</summary>
public sealed class CodecTests
{
    [Test]
    public void Requests_round_trip_through_their_28_bytes()
    {
        var requests =
            from flags in ArbMap.Default.GeneratorFor<ushort>()
            from type in ArbMap.Default.GeneratorFor<ushort>()
            from handle in ArbMap.Default.GeneratorFor<ulong>()
            from offset in ArbMap.Default.GeneratorFor<ulong>()
            from length in ArbMap.Default.GeneratorFor<uint>()
            select new NbdRequest((NbdCommandFlags)flags, (NbdCommand)type, handle, offset, length);
        Check.QuickThrowOnFailure(Prop.ForAll(requests.ToArbitrary(), request =>
        {
            var frame = new byte[NbdLimits.RequestSize];
            NbdCodec.WriteRequest(frame, request);
            var back = NbdCodec.ReadRequest(frame, out var magic);
            return back == request && magic == NbdMagic.Request;
        }));
    }

    [Test]
    public void Info_and_meta_context_requests_round_trip_and_reject_any_truncation()
    {
        var name = Gen.Elements("", "pool/vol", "pool/vol@snap", "ünïcode/名前");
        Check.QuickThrowOnFailure(Prop.ForAll(name.ToArbitrary(), Gen.ListOf(name).ToArbitrary(), (export, queries) =>
        {
            var list = queries.ToList();
            var meta = new byte[NbdCodec.MetaContextRequestSize(export, list)];
            Assert.That(NbdCodec.WriteMetaContextRequest(meta, export, list), Is.EqualTo(meta.Length));
            Assert.That(NbdCodec.TryReadMetaContextRequest(meta, out var readExport, out var readQueries));
            Assert.That((readExport, readQueries), Is.EqualTo((export, list)));
            for (var cut = 0; cut < meta.Length; cut++)
            {
                Assert.That(NbdCodec.TryReadMetaContextRequest(meta.AsSpan(0, cut), out _, out _), Is.False, $"cut at {cut}");
            }

            var info = new byte[NbdCodec.InfoRequestSize(export, 2)];
            NbdCodec.WriteInfoRequest(info, export, [NbdInfo.BlockSize, NbdInfo.Description]);
            Assert.That(NbdCodec.TryReadInfoRequest(info, out var infoName, out var requested));
            Assert.That((infoName, requested), Is.EqualTo((export, (1u << 3) | (1u << 2))));
            for (var cut = 0; cut < info.Length; cut++)
            {
                Assert.That(NbdCodec.TryReadInfoRequest(info.AsSpan(0, cut), out _, out _), Is.False, $"cut at {cut}");
            }
        }));
    }

    [Test]
    public void Frames_have_the_bytes_of_the_spec()
    {
        var greeting = new byte[NbdLimits.GreetingSize];
        NbdCodec.WriteGreeting(greeting, NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes);
        Assert.That(Convert.ToHexString(greeting), Is.EqualTo("4E42444D41474943" + "49484156454F5054" + "0003"));

        var reply = new byte[NbdLimits.OptionReplyHeaderSize];
        NbdCodec.WriteOptionReplyHeader(reply, NbdOption.Go, NbdOptionReply.ErrTlsRequired, 7);
        Assert.That(Convert.ToHexString(reply), Is.EqualTo("0003E889045565A9" + "00000007" + "80000005" + "00000007"));

        var simple = new byte[NbdLimits.SimpleReplySize];
        NbdCodec.WriteSimpleReply(simple, NbdError.NoSpace, 0x0102030405060708);
        Assert.That(Convert.ToHexString(simple), Is.EqualTo("67446698" + "0000001C" + "0102030405060708"));

        var hole = new byte[NbdLimits.HoleChunkSize];
        NbdCodec.WriteHoleChunk(hole, NbdReplyFlags.Done, 9, 4096, 512);
        Assert.That(Convert.ToHexString(hole), Is.EqualTo("668E33EF" + "0001" + "0002" + "0000000000000009" + "0000000C"
            + "0000000000001000" + "00000200"));

        var error = new byte[64];
        var length = NbdCodec.WriteErrorChunk(error, NbdReplyFlags.Done, 1, NbdError.Perm, "ro");
        Assert.That(Convert.ToHexString(error, 0, length), Is.EqualTo("668E33EF" + "0001" + "8001" + "0000000000000001" + "00000008"
            + "00000001" + "0002" + "726F"));

        Assert.That(((int)NbdError.Overflow, (int)NbdError.NotSupported, (int)NbdError.Shutdown), Is.EqualTo((75, 95, 108)));
        Assert.That(((int)NbdReplyType.BlockStatus, (int)NbdReplyType.Error, (int)NbdReplyType.ErrorOffset), Is.EqualTo((5, 32769, 32770)));
        Assert.That(((int)NbdOption.ListMetaContext, (int)NbdOption.SetMetaContext), Is.EqualTo((9, 10)));
    }

    [Test]
    public void An_error_message_is_cut_to_fit_at_a_character_boundary()
    {
        var chunk = new byte[NbdLimits.ChunkHeaderSize + NbdLimits.ErrorPayloadSize + 5];

        var length = NbdCodec.WriteErrorChunk(chunk, NbdReplyFlags.Done, 1, NbdError.IO, "ééé");

        Assert.That(length, Is.EqualTo(chunk.Length - 1));
        Assert.That(NbdCodec.TryReadErrorPayload(chunk.AsSpan(NbdLimits.ChunkHeaderSize, length - NbdLimits.ChunkHeaderSize),
            out var error, out var message));
        Assert.That((error, message), Is.EqualTo((NbdError.IO, "éé")));
    }

    [Test]
    public void Strings_with_nul_bad_utf8_or_over_4096_bytes_are_refused()
    {
        Assert.That(NbdCodec.TryDecodeString("a\0b"u8, out _), Is.False);
        Assert.That(NbdCodec.TryDecodeString([0xc3, 0x28], out _), Is.False);
        Assert.That(NbdCodec.TryDecodeString(new byte[4097].AsSpan().ToArray().Select(_ => (byte)'a').ToArray(), out _), Is.False);
        Assert.That(NbdCodec.TryDecodeString(Enumerable.Repeat((byte)'a', 4096).ToArray(), out var text) && text.Length == 4096);
    }
}
