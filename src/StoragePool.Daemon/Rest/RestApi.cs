using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using StoragePool.Api;
using StoragePool.Cluster.Control;
using StoragePool.Core.Errors;
using StoragePool.Core.Model;
using StoragePool.Core.Naming;
using StoragePool.Daemon.Libvirt;
using StoragePool.Daemon.Metrics;
using StoragePool.Daemon.Nbd;
using StoragePool.Daemon.Transfers;
using StoragePool.Libvirt;

namespace StoragePool.Daemon.Rest;

/// <summary>The REST/JSON API (routes in <see cref="ApiRoutes"/>): bearer token on every call, errors as problem+json.</summary>
internal static class RestApi
{
    public static void UseTokenAndProblems(this WebApplication app, string token)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("StoragePool.Daemon.Rest");
        var expected = Encoding.UTF8.GetBytes("Bearer " + token);
        app.Use(async (context, next) =>
        {
            try
            {
                var header = Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
                if (!CryptographicOperations.FixedTimeEquals(header, expected))
                {
                    throw new StoragePoolException(ErrorCode.Unauthorized,
                        "missing or wrong bearer token; pass it with --token or STORAGEPOOL_TOKEN " +
                        "(the local token is in api.token beside the daemon's socket, readable by root)");
                }
                await next(context);
            }
            catch (StoragePoolException e)
            {
                await WriteProblemAsync(context, e.Code, e.Message);
            }
            catch (JsonException e)
            {
                await WriteProblemAsync(context, ErrorCode.InvalidArgument, $"the request body is not valid JSON for this call: {e.Message}");
            }
            catch (BadHttpRequestException e)
            {
                // a query or route value of the wrong type (ThrowOnBadRequest), or a body over the limit
                await WriteProblemAsync(context, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? ErrorCode.RequestTooLarge : ErrorCode.InvalidArgument,
                    e.StatusCode == StatusCodes.Status413PayloadTooLarge
                        ? $"the request body is larger than the daemon accepts ({e.Message})"
                        : $"the request is not valid for this call: {e.Message}");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.RequestFailed(context.Request.Method, context.Request.Path, e);
                await WriteProblemAsync(context, ErrorCode.Internal, $"internal error in storagepoold: {e.Message} (details are in the daemon's log)");
            }
        });
    }

    public static void MapRestApi(this WebApplication app)
    {
        var pm = app.Services.GetRequiredService<PoolManager>();
        var ctx = ApiJsonContext.Default;

        var libvirt = app.Services.GetRequiredService<LibvirtPools>();
        app.MapGet(ApiRoutes.Status, async (CancellationToken ct) =>
        {
            var status = await pm.GetStatusAsync(ct);
            return Json(status with { Pools = status.Pools.Select(libvirt.Annotate).ToList() }, ctx.StatusInfo);
        });
        app.MapGet(ApiRoutes.Metrics, async (PrometheusExporter exporter, CancellationToken ct) =>
            Results.Text(await exporter.ScrapeAsync(ct), PrometheusExporter.ContentType));

        app.MapGet(ApiRoutes.Stores, async (CancellationToken ct) => Json(await pm.ListStoresAsync(ct), ctx.IReadOnlyListStoreInfo));
        app.MapPost(ApiRoutes.Stores, async (HttpRequest request, CancellationToken ct) =>
        {
            var body = await BodyAsync(request, ctx.AddStoreRequest, ct);
            return Created(await pm.AddStoreAsync(body.Name, body.Path ?? Missing("path"), body.OvercommitRatio, body.WatermarkPercent, ct), ctx.StoreInfo);
        });
        app.MapDelete(ApiRoutes.Store("{name}"), async (string name, CancellationToken ct) =>
        {
            await pm.RemoveStoreAsync(name, ct);
            return Results.NoContent();
        });

        app.MapGet(ApiRoutes.Pools, async (CancellationToken ct) =>
            Json((await pm.ListPoolsAsync(ct)).Select(libvirt.Annotate).ToList(), ctx.IReadOnlyListPoolInfo));
        app.MapPost(ApiRoutes.Pools, async (HttpRequest request, CancellationToken ct) =>
        {
            var body = await BodyAsync(request, ctx.CreatePoolRequest, ct);
            return Created(await pm.CreatePoolAsync(body.Name, body.Store, ct), ctx.PoolInfo);
        });
        app.MapGet(ApiRoutes.Pool("{pool}"), async (string pool, CancellationToken ct) => Json(libvirt.Annotate(await pm.GetPoolAsync(pool, ct)), ctx.PoolInfo));
        app.MapGet(ApiRoutes.PoolLibvirtXml("{pool}"), async (string pool, CancellationToken ct) =>
            Json(new LibvirtXml(libvirt.XmlOf((await pm.GetPoolAsync(pool, ct)).Name)), ctx.LibvirtXml));
        app.MapDelete(ApiRoutes.Pool("{pool}"), async (string pool, CancellationToken ct) =>
        {
            await pm.DeletePoolAsync(pool, ct);
            return Results.NoContent();
        });

        app.MapGet(ApiRoutes.Volumes, async (CancellationToken ct) => Json(await pm.ListVolumesAsync(null, ct), ctx.IReadOnlyListVolumeInfo));
        app.MapGet(ApiRoutes.PoolVolumes("{pool}"), async (string pool, CancellationToken ct) =>
            Json(await pm.ListVolumesAsync(pool, ct), ctx.IReadOnlyListVolumeInfo));
        app.MapPost(ApiRoutes.PoolVolumes("{pool}"), async (string pool, HttpRequest request, CancellationToken ct) =>
        {
            var body = await BodyAsync(request, ctx.CreateVolumeRequest, ct);
            return Created(await pm.CreateVolumeAsync(new VolumeRef(pool, body.Name ?? Missing("name")), body.SizeBytes, ct), ctx.VolumeChange);
        });
        app.MapGet(ApiRoutes.Volume("{pool}", "{name}"), async (string pool, string name, CancellationToken ct) =>
            Json(await pm.GetVolumeAsync(new VolumeRef(pool, name), ct), ctx.VolumeInfo));
        app.MapDelete(ApiRoutes.Volume("{pool}", "{name}"), async (string pool, string name, bool? with_snapshots, bool? force, CancellationToken ct) =>
        {
            await pm.DeleteVolumeAsync(new VolumeRef(pool, name), with_snapshots ?? false, force ?? false, ct);
            return Results.NoContent();
        });
        app.MapPost(ApiRoutes.VolumeResize("{pool}", "{name}"), async (string pool, string name, HttpRequest request, CancellationToken ct) =>
        {
            var body = await BodyAsync(request, ctx.ResizeVolumeRequest, ct);
            return Json(await pm.ResizeVolumeAsync(new VolumeRef(pool, name), body.SizeBytes, body.AllowShrink, ct), ctx.VolumeChange);
        });
        app.MapPost(ApiRoutes.VolumeClone("{pool}", "{name}"), async (string pool, string name, HttpRequest request, CancellationToken ct) =>
        {
            var body = await BodyAsync(request, ctx.CloneVolumeRequest, ct);
            var source = new SnapshotRef(pool, name, body.Snapshot);
            var target = new VolumeRef(body.Pool ?? Missing("pool"), body.Name ?? Missing("name"));
            return Created(await pm.CloneVolumeAsync(source, target, ct), ctx.VolumeInfo);
        });
        app.MapPost(ApiRoutes.VolumeRevert("{pool}", "{name}"), async (string pool, string name, HttpRequest request, CancellationToken ct) =>
        {
            var body = await BodyAsync(request, ctx.RevertVolumeRequest, ct);
            return Json(await pm.RevertVolumeAsync(new SnapshotRef(pool, name, body.Snapshot), ct), ctx.VolumeInfo);
        });

        app.MapGet(ApiRoutes.Snapshots("{pool}", "{name}"), async (string pool, string name, CancellationToken ct) =>
            Json(await pm.ListSnapshotsAsync(new VolumeRef(pool, name), ct), ctx.IReadOnlyListSnapshotInfo));
        app.MapPost(ApiRoutes.Snapshots("{pool}", "{name}"), async (string pool, string name, HttpRequest request, CancellationToken ct) =>
        {
            var body = await BodyAsync(request, ctx.CreateSnapshotRequest, ct);
            return Created(await pm.CreateSnapshotAsync(new SnapshotRef(pool, name, body.Name), ct), ctx.SnapshotInfo);
        });
        app.MapDelete(ApiRoutes.Snapshot("{pool}", "{name}", "{snapshot}"), async (string pool, string name, string snapshot, CancellationToken ct) =>
        {
            await pm.DeleteSnapshotAsync(new SnapshotRef(pool, name, snapshot), ct);
            return Results.NoContent();
        });

        var options = app.Services.GetRequiredService<Hosting.DaemonOptions>();
        app.MapGet(ApiRoutes.VolumeDiskXml("{pool}", "{name}"), async (string pool, string name, string? source, string? target, CancellationToken ct) =>
        {
            var volume = await pm.GetVolumeAsync(new VolumeRef(pool, name), ct);
            var dev = target ?? "vdb";
            try
            {
                return Json(new LibvirtXml(source switch
                {
                    null or "nbd" => DiskXml.Nbd($"{volume.Pool}/{volume.Name}", options.Nbd.Socket, dev),
                    "file" => DiskXml.Volume(volume.Pool, volume.Name, dev),
                    _ => throw new StoragePoolException(ErrorCode.InvalidArgument, $"disk source '{source}' is neither 'nbd' nor 'file'"),
                }), ctx.LibvirtXml);
            }
            catch (ArgumentException e)
            {
                throw new StoragePoolException(ErrorCode.InvalidArgument, e.Message, e); // a target name the guest cannot have
            }
        });
        app.MapGet(ApiRoutes.Export("{**name}"), async (string name, CancellationToken ct) =>
            Json(NbdService.Describe(options.Nbd, name, await pm.CheckExportAsync(name, ct)), ctx.ExportInfo));

        var jobs = app.Services.GetRequiredService<JobService>();
        app.MapGet(ApiRoutes.Jobs, async (CancellationToken ct) => Json(await jobs.ListAsync(ct), ctx.IReadOnlyListJobInfo));
        app.MapPost(ApiRoutes.Jobs, async (HttpRequest request, CancellationToken ct) =>
            Created(await jobs.StartJobAsync(await BodyAsync(request, ctx.StartJobRequest, ct), ct), ctx.JobInfo));
        app.MapGet(ApiRoutes.Job("{id}"), async (string id, int? wait_ms, CancellationToken ct) =>
            Json(await jobs.GetAsync(id, TimeSpan.FromMilliseconds(Math.Clamp(wait_ms ?? 0, 0, 10_000)), ct), ctx.JobInfo));
        app.MapPost(ApiRoutes.JobCancel("{id}"), async (string id, CancellationToken ct) => Json(await jobs.CancelAsync(id, ct), ctx.JobInfo));
        app.MapPost(ApiRoutes.JobResume("{id}"), async (string id, CancellationToken ct) => Json(await jobs.ResumeAsync(id, ct), ctx.JobInfo));

        var receive = app.Services.GetRequiredService<ReceiveSessions>();
        app.MapPost(ApiRoutes.Transfers, async (HttpRequest request, CancellationToken ct) =>
            Json(await receive.BeginAsync(await BodyAsync(request, ctx.BeginTransferRequest, ct), ct), ctx.TransferSession));
        app.MapGet(ApiRoutes.TransferKnown("{id}"), (string id) => Results.Bytes(receive.Known(id), "application/octet-stream"));
        app.MapPost(ApiRoutes.TransferComplete("{id}"), async (string id, HttpRequest request, CancellationToken ct) =>
            Json(await receive.CompleteAsync(id, (await BodyAsync(request, ctx.CompleteTransferRequest, ct)).Digest, ct), ctx.TransferCompletion));
        app.MapDelete(ApiRoutes.Transfer("{id}"), async (string id, CancellationToken ct) =>
        {
            await receive.AbortAsync(id, ct);
            return Results.NoContent();
        });

        var routes = new RouteMethods(app.Services.GetRequiredService<EndpointDataSource>());
        app.MapFallback((HttpContext context) =>
        {
            if (routes.AllowedFor(context.Request.Path) is { Count: > 0 } allowed)
            {
                context.Response.Headers.Allow = string.Join(", ", allowed);
                throw new StoragePoolException(ErrorCode.MethodNotAllowed,
                    $"{context.Request.Path} does not take {context.Request.Method}; it takes {string.Join(", ", allowed)} (see docs/api.md)");
            }
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"no API route {context.Request.Method} {context.Request.Path}; see docs/api.md");
        });
    }

    private static string Missing(string field) =>
        throw new StoragePoolException(ErrorCode.InvalidArgument, $"the request body lacks '{field}'");

    /// <summary>The JSON body, whatever Content-Type the client sent (curl's default is form-urlencoded).</summary>
    private static async Task<T> BodyAsync<T>(HttpRequest request, JsonTypeInfo<T> type, CancellationToken ct) where T : class =>
        (request.ContentLength == 0 ? null : await JsonSerializer.DeserializeAsync(request.Body, type, ct))
            ?? throw new StoragePoolException(ErrorCode.InvalidArgument, "the request has no JSON body");

    private static IResult Json<T>(T value, JsonTypeInfo<T> type) => Results.Json(value, type);

    private static IResult Created<T>(T value, JsonTypeInfo<T> type) => Results.Json(value, type, statusCode: StatusCodes.Status201Created);

    private static async Task WriteProblemAsync(HttpContext context, ErrorCode code, string detail)
    {
        if (context.Response.HasStarted)
        {
            return;
        }
        var allow = context.Response.Headers.Allow;
        context.Response.Clear();
        context.Response.Headers.Allow = allow;
        context.Response.StatusCode = code.HttpStatus();
        context.Response.ContentType = "application/problem+json";
        var problem = new Problem($"urn:storagepool:error:{code.Id()}", code.ToString(), code.HttpStatus(), detail, code.Id());
        await context.Response.WriteAsync(JsonSerializer.Serialize(problem, ApiJsonContext.Default.Problem), context.RequestAborted);
    }
}
