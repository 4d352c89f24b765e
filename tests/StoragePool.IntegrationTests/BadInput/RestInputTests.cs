using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.IntegrationTests.Harness;

namespace StoragePool.IntegrationTests.BadInput;

/// <summary>
/// What a careless script or a hostile local user sends to the REST API: every answer is a problem document with the
/// documented code and the status of that code, nothing changes in the metadata or the stores, and the daemon lives on.
/// </summary>
[NonParallelizable]
public sealed class RestInputTests
{
    /// <summary>Generated cases per property; each is one request and a look at what the daemon holds.</summary>
    private const int Cases = 300;

    private DaemonProcess _daemon = null!;
    private RawApi _api = null!;
    private string _before = "";

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _daemon = await DaemonProcess.StartAsync();
        _api = new RawApi(_daemon);
        await _daemon.Client.CreateVolumeAsync(new VolumeRef("default", "keep"), 1 << 20);
        _before = await HoldingsAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _api.Dispose();
        await _daemon.DisposeAsync();
    }

    [TearDown]
    public async Task NothingChangedAndTheDaemonLivesAsync()
    {
        Assert.That(await HoldingsAsync(), Is.EqualTo(_before), "pools, volumes, stores and store files are as they were");
        Assert.That(_daemon.Log, Does.Not.Contain(" fail: ").And.Not.Contain(" crit: "), "no request broke the daemon");
    }

    [TestCase("POST", "/v1/pools/default/volumes", """{"size_bytes":1048576}""", ErrorCode.InvalidArgument, "missing required properties including: 'name'")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":null,"size_bytes":1048576}""", ErrorCode.InvalidArgument, "Name")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"v1"}""", ErrorCode.InvalidArgument, "size_bytes")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"v1","size_bytes":"10G"}""", ErrorCode.InvalidArgument, "")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"../../etc/passwd","size_bytes":1048576}""", ErrorCode.InvalidName, "starts with '.'")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"a/b","size_bytes":1048576}""", ErrorCode.InvalidName, "contains '/'")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"..","size_bytes":1048576}""", ErrorCode.InvalidName, "")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"a b","size_bytes":1048576}""", ErrorCode.InvalidName, "U+0020")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"a\u0000b","size_bytes":1048576}""", ErrorCode.InvalidName, "U+0000")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"a\nforged","size_bytes":1048576}""", ErrorCode.InvalidName, "U+000A")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"v1","size_bytes":-4096}""", ErrorCode.InvalidSize, "")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"v1","size_bytes":0}""", ErrorCode.InvalidSize, "")]
    [TestCase("POST", "/v1/pools/default/volumes", """{"name":"v1","size_bytes":9223372036854775807}""", ErrorCode.InvalidSize, "")]
    [TestCase("POST", "/v1/pools/nopool/volumes", """{"name":"v1","size_bytes":1048576}""", ErrorCode.PoolNotFound, "")]
    [TestCase("POST", "/v1/stores", """{"name":"s1","path":""}""", ErrorCode.StorePathInvalid, "is empty")]
    [TestCase("POST", "/v1/stores", """{"name":"s1","path":"a\u0000b"}""", ErrorCode.StorePathInvalid, "control character")]
    [TestCase("POST", "/v1/stores", """{"name":"s1","path":"/etc"}""", ErrorCode.StorePathInvalid, "system directory")]
    [TestCase("POST", "/v1/stores", """{"name":"s1","path":"/"}""", ErrorCode.StorePathInvalid, "shared")]
    [TestCase("POST", "/v1/stores", """{"name":"s1","path":"relative"}""", ErrorCode.StorePathInvalid, "absolute")]
    [TestCase("POST", "/v1/transfers", "{}", ErrorCode.InvalidArgument, "")]
    [TestCase("POST", "/v1/jobs", """{"kind":"copy"}""", ErrorCode.InvalidArgument, "")]
    [TestCase("POST", "/v1/pools/default/volumes/keep/snapshots", """{"name":"a@b"}""", ErrorCode.InvalidName, "'@'")]
    [TestCase("POST", "/v1/pools/default/volumes/keep/resize", """{"size_bytes":-1}""", ErrorCode.InvalidSize, "")]
    [TestCase("POST", "/v1/pools/default/volumes/keep/clone", """{"snapshot":"none","pool":"default","name":"x y"}""", ErrorCode.InvalidName, "")]
    [TestCase("GET", "/v1/jobs/x?wait_ms=abc", null, ErrorCode.InvalidArgument, "wait_ms")]
    [TestCase("DELETE", "/v1/pools/default/volumes/keep?force=maybe", null, ErrorCode.InvalidArgument, "force")]
    [TestCase("GET", "/v1/pools/default/volumes/a%20b", null, ErrorCode.InvalidName, "")]
    [TestCase("PUT", "/v1/pools", null, ErrorCode.MethodNotAllowed, "takes GET, POST")]
    [TestCase("DELETE", "/v1/status", null, ErrorCode.MethodNotAllowed, "takes GET")]
    [TestCase("GET", "/v1/nothing/here", null, ErrorCode.InvalidArgument, "no API route")]
    [TestCase("POST", "/v1/pools", "{not json", ErrorCode.InvalidArgument, "not valid JSON")]
    public async Task A_bad_request_gets_a_problem_with_its_code_and_changes_nothing(string method, string path, string? body,
        ErrorCode expected, string says)
    {
        var answer = await _api.SendAsync(method, path, body);

        RawApi.AssertProblem(answer, expected);
        Assert.That(Detail(answer), Does.Contain(says));
    }

    [Test]
    public async Task A_wrong_method_is_told_which_methods_the_path_takes()
    {
        var answer = await _api.SendAsync("PATCH", "/v1/pools/default/volumes/keep");
        RawApi.AssertProblem(answer, ErrorCode.MethodNotAllowed);
        Assert.That(Detail(answer), Does.Contain("takes DELETE, GET"));
    }

    [Test]
    public async Task A_body_larger_than_the_daemon_takes_is_413()
    {
        // announced and not sent: the daemon must refuse it by its length, before reading it
        var answer = await _api.SendHeadersOnlyAsync("POST", "/v1/pools", contentLength: 50L << 20);
        RawApi.AssertProblem(answer, ErrorCode.RequestTooLarge);
    }

    [Test]
    public void Generated_bad_volumes_are_refused_with_their_codes()
    {
        var names = Gen.OneOf(BadName, GoodName.Select(n => JsonSerializer.Serialize(n)));
        var sizes = Gen.OneOf(BadSize, Gen.Constant("1048576"));
        var bodies = from name in names
                     from size in sizes
                     from shape in Gen.Choose(0, 4)
                     where !(name.StartsWith('"') && Names.IsValid(JsonSerializer.Deserialize<string>(name)) && size == "1048576")
                     select shape switch
                     {
                         0 => $$"""{"name":{{name}},"size_bytes":{{size}}}""",
                         1 => $$"""{"size_bytes":{{size}}}""",
                         2 => $$"""{"name":{{name}}}""",
                         3 => $$"""{"name":{{name}},"size_bytes":{{size}},"size_bytes":{{size}}}""",
                         _ => $$"""[{{name}},{{size}}]""",
                     };
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases), Prop.ForAll(bodies.ToArbitrary(), body =>
        {
            var answer = _api.SendAsync("POST", "/v1/pools/default/volumes", body).GetAwaiter().GetResult();
            RawApi.AssertProblem(answer, ErrorCode.InvalidArgument, ErrorCode.InvalidName, ErrorCode.InvalidSize, ErrorCode.NoSpace);
        }));
    }

    /// <summary>Bad names where the path names an object ("", "." and ".." are not among them: in a URL they make another path).</summary>
    [Test]
    public void Generated_bad_names_in_paths_are_refused_with_their_codes()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases), Prop.ForAll(BadName.Where(n => n.StartsWith('"') && n is not ("\"\"" or "\".\"" or "\"..\"")).ToArbitrary(), name =>
        {
            var text = JsonSerializer.Deserialize<string>(name) ?? "";
            var escaped = Uri.EscapeDataString(text);
            foreach (var (method, path) in new[]
            {
                ("GET", $"/v1/pools/default/volumes/{escaped}"),
                ("DELETE", $"/v1/pools/default/volumes/{escaped}"),
                ("GET", $"/v1/pools/{escaped}/volumes/keep"),
                ("DELETE", $"/v1/pools/default/volumes/keep/snapshots/{escaped}"),
                ("POST", $"/v1/pools/default/volumes/keep/snapshots"),
            })
            {
                if (escaped.Contains("%00", StringComparison.Ordinal) && method != "POST")
                {
                    continue; // the HTTP server refuses NUL in a path itself, with a bare 400 (docs/api.md)
                }
                var answer = _api.SendAsync(method, path, method == "POST" ? $$"""{"name":{{name}}}""" : null).GetAwaiter().GetResult();
                RawApi.AssertProblem(answer, ErrorCode.InvalidName, ErrorCode.InvalidArgument, ErrorCode.VolumeNotFound,
                    ErrorCode.SnapshotNotFound, ErrorCode.PoolNotFound, ErrorCode.MethodNotAllowed);
            }
        }));
    }

    /// <summary>Names against the rules, as JSON values: control characters, separators, dots, unicode, lengths, non-strings.</summary>
    private static readonly Gen<string> BadName = Gen.OneOf(
        Gen.Elements("\"\"", "\".\"", "\"..\"", "\"../x\"", "\"a/b\"", "\"a@b\"", "\"-a\"", "\".a\"", "\"a b\"", "\"a\\u0000b\"",
            "\"a\\nb\"", "\"a\\tb\"", "\"é\"", "\"💾\"", "\"a\\u202eb\"", "\"a\\\\b\"", "\"a%2Fb\"", "\"a:b\"", "null", "42", "true", "[]", "{}"),
        Gen.Choose(65, 5000).Select(n => $"\"{new string('x', n)}\""),
        Gen.ListOf(Gen.Choose(0, 0x7f).Select(i => (char)i)).Select(cs => new string([.. cs]))
            .Where(s => !Names.IsValid(s)).Select(s => JsonSerializer.Serialize(s)));

    private static readonly Gen<string> GoodName = Gen.Elements("v1", "db-2", "x.y_z");

    /// <summary>Sizes that are not a whole positive byte count the store can hold, as JSON values.</summary>
    private static readonly Gen<string> BadSize = Gen.OneOf(
        Gen.Elements("-1", "-4096", "0", "1.5", "1e30", "-1e30", "4611686018427387904", "9223372036854775807", "9223372036854775808",
            "18446744073709551616", "\"10G\"", "\"10 GB\"", "\"1,5G\"", "\"\"", "null", "true", "[]", "{}"),
        Gen.Choose(int.MinValue, -1).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static string Detail(RawAnswer answer)
    {
        using var document = JsonDocument.Parse(answer.Body);
        return document.RootElement.GetProperty("detail").GetString() ?? "";
    }

    /// <summary>What the daemon holds: stores, pools, volumes (names, sizes, states) and the files in its default store.</summary>
    private async Task<string> HoldingsAsync()
    {
        var stores = (await _daemon.Client.ListStoresAsync()).Select(s => $"{s.Name}:{s.Path}");
        var pools = (await _daemon.Client.ListPoolsAsync()).Select(p => $"{p.Name}:{p.Store}:{p.VolumeCount}:{p.ProvisionedBytes}");
        var volumes = (await _daemon.Client.ListVolumesAsync(null)).Select(v => $"{v.Pool}/{v.Name}:{v.SizeBytes}:{v.State}");
        var files = Directory.GetFiles(Path.Combine(_daemon.DataDir, "stores"), "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(_daemon.DataDir, f)).Order(StringComparer.Ordinal);
        return string.Join('\n', stores.Concat(pools).Concat(volumes).Concat(files));
    }
}
