using System.Security.Cryptography;
using System.Text.Json;
using StoragePool.Api;
using StoragePool.Cluster.Control;
using StoragePool.Cluster.Metadata;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.Daemon.Hosting;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;
using StoragePool.Transfer.Files;
using StoragePool.Transfer.Tcp;

namespace StoragePool.Daemon.Transfers;

/// <summary>
/// Transfer jobs of this daemon (copy to another daemon, export to a file, import from one): started by the API,
/// run in the background, their records kept in the metadata store (<c>jobs/ID</c>) so that <c>job list</c> shows
/// them after a restart. A job running when the daemon stopped is interrupted; resuming it (or starting the same
/// copy again) continues where the receiver's journal ends.
/// </summary>
internal sealed class JobService : IHostedService
{
    private const string KeyPrefix = "jobs/";
    private readonly PoolManager _pool;
    private readonly IMetadataStore _metadata;
    private readonly ReceiveSessions _receive;
    private readonly DaemonOptions _options;
    private readonly ILogger<JobService> _logger;
    private readonly RateLimiter? _daemonCap;
    private readonly Dictionary<string, JobRun> _running = new(StringComparer.Ordinal);

    public JobService(PoolManager pool, IMetadataStore metadata, ReceiveSessions receive, DaemonOptions options, ILogger<JobService> logger)
    {
        _pool = pool;
        _metadata = metadata;
        _receive = receive;
        _options = options;
        _logger = logger;
        _daemonCap = options.TransferBandwidth is { } cap ? new RateLimiter(cap) : null;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var job in await LoadAllAsync(cancellationToken))
        {
            if (job.State == JobStates.Running)
            {
                await SaveAsync(job with { State = JobStates.Interrupted }, cancellationToken);
                _logger.JobInterrupted(job.Id);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        JobRun[] runs;
        lock (_running)
        {
            runs = [.. _running.Values];
        }
        foreach (var run in runs)
        {
            run.Stopping = true;
            await run.Cancel.CancelAsync();
        }
        await Task.WhenAll(runs.Select(r => r.Task)).WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    public async Task<JobInfo> StartJobAsync(StartJobRequest request, CancellationToken ct)
    {
        var job = await DefineAsync(request, ct);
        var previous = (await LoadAllAsync(ct)).FirstOrDefault(j => j.Kind == JobKinds.Copy && job.Kind == JobKinds.Copy
            && j.Source == job.Source && j.Target == job.Target && j.To == job.To
            && j.State is JobStates.Failed or JobStates.Interrupted);
        if (previous is not null)
        {
            // the same copy again: continue the one that did not finish (its transfer id finds the receiver's journal)
            return Launch(job with { Id = previous.Id, Snapshot = previous.Snapshot, CreatedAt = previous.CreatedAt, Resumed = true });
        }
        return Launch(job);
    }

    public async Task<IReadOnlyList<JobInfo>> ListAsync(CancellationToken ct) =>
        [.. (await LoadAllAsync(ct)).Select(Live).OrderBy(j => j.CreatedAt)];

    /// <param name="wait">while the job runs, wait up to this long for it to end before answering (a long poll).</param>
    public async Task<JobInfo> GetAsync(string id, TimeSpan wait, CancellationToken ct)
    {
        JobRun? run;
        lock (_running)
        {
            _running.TryGetValue(id, out run);
        }
        if (run is not null && wait > TimeSpan.Zero)
        {
            await Task.WhenAny(run.Task, Task.Delay(wait, ct));
        }
        return Live(await LoadAsync(id, ct));
    }

    public async Task<JobInfo> CancelAsync(string id, CancellationToken ct)
    {
        var job = await LoadAsync(id, ct);
        JobRun? run;
        lock (_running)
        {
            _running.TryGetValue(id, out run);
        }
        if (run is not null)
        {
            await run.Cancel.CancelAsync();
            await run.Task.WaitAsync(ct).ContinueWith(_ => { }, TaskScheduler.Default);
            return await LoadAsync(id, ct);
        }
        if (JobStates.IsFinal(job.State))
        {
            throw new StoragePoolException(ErrorCode.Conflict, $"job {id} has already {job.State}");
        }
        await CleanUpCancelledAsync(job, ct);
        var cancelled = job with { State = JobStates.Cancelled, FinishedAt = DateTimeOffset.UtcNow };
        await SaveAsync(cancelled, ct);
        return cancelled;
    }

    public async Task<JobInfo> ResumeAsync(string id, CancellationToken ct)
    {
        var job = await LoadAsync(id, ct);
        lock (_running)
        {
            if (_running.ContainsKey(id))
            {
                throw new StoragePoolException(ErrorCode.Conflict, $"job {id} is running");
            }
        }
        if (job.State is not (JobStates.Failed or JobStates.Interrupted))
        {
            throw new StoragePoolException(ErrorCode.Conflict, $"job {id} is {job.State}; only a failed or interrupted job can be resumed");
        }
        if (job.Kind != JobKinds.Copy)
        {
            throw new StoragePoolException(ErrorCode.Unsupported, $"job {id} is an {job.Kind}; start it again instead (exports and imports are not resumable)");
        }
        return Launch(job with { Resumed = true });
    }

    /// <summary>Checks a request and turns it into a job record (not yet saved).</summary>
    private async Task<JobInfo> DefineAsync(StartJobRequest request, CancellationToken ct)
    {
        var streams = request.Streams ?? TransferSettings.DefaultStreams;
        if (streams is < 1 or > TransferSettings.MaxStreams)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"--streams {streams} is out of range: use 1 to {TransferSettings.MaxStreams}");
        }
        var compression = CompressionModes.Parse(request.Compress);
        if (request.BandwidthBytesPerSecond is { } bw)
        {
            RateLimiter.Check(bw);
        }
        var chunkSize = request.ChunkSizeBytes ?? ChunkLayout.DefaultChunkSize;
        ChunkLayout.CheckChunkSize(chunkSize);
        string source, target;
        string? to = null, path = null;
        switch (request.Kind)
        {
            case JobKinds.Copy:
                source = await CheckSourceAsync(request.Source, ct);
                target = (request.Target is { Length: > 0 } t ? VolumeRef.Parse(t) : SourceVolume(source)).ToString();
                to = ParsePeer(request.To).ToString();
                break;
            case JobKinds.Export:
                source = await CheckSourceAsync(request.Source, ct);
                path = AbsolutePath(request.Path);
                target = path;
                break;
            case JobKinds.Import:
                path = AbsolutePath(request.Path);
                if (!File.Exists(path))
                {
                    throw new StoragePoolException(ErrorCode.InvalidArgument, $"'{path}' does not exist");
                }
                source = path;
                target = VolumeRef.Parse(request.Target ?? throw new StoragePoolException(ErrorCode.InvalidArgument, "an import needs the target volume POOL/NAME")).ToString();
                await _pool.GetPoolAsync(VolumeRef.Parse(target).Pool, ct);
                break;
            default:
                throw new StoragePoolException(ErrorCode.InvalidArgument, $"unknown job kind '{request.Kind}': copy, export or import");
        }
        return new JobInfo(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), request.Kind, JobStates.Running, source, target, to, path,
            streams, compression.Name(), request.BandwidthBytesPerSecond, request.Incremental, request.Overwrite, DateTimeOffset.UtcNow, null,
            EmptyProgress, ChunkSizeBytes: chunkSize);
    }

    private static readonly JobProgress EmptyProgress = new(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    private JobInfo Launch(JobInfo job)
    {
        var run = new JobRun(job with { State = JobStates.Running, FinishedAt = null, Error = null, ErrorCode = null });
        lock (_running)
        {
            if (!_running.TryAdd(job.Id, run))
            {
                throw new StoragePoolException(ErrorCode.Conflict, $"job {job.Id} is running");
            }
        }
        _logger.JobStarted(job.Id, job.Kind, job.Source, job.To ?? job.Path ?? job.Target);
        run.Task = Task.Run(() => RunAsync(run));
        return Live(run.Job);
    }

    private async Task RunAsync(JobRun run)
    {
        var ct = run.Cancel.Token;
        JobInfo final;
        try
        {
            await SaveAsync(run.Job, CancellationToken.None);
            final = run.Job.Kind switch
            {
                JobKinds.Copy or JobKinds.Export => await SendAsync(run, ct),
                _ => await ImportAsync(run, ct),
            };
            final = final with { State = JobStates.Succeeded };
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (run.Stopping)
            {
                final = run.Job with { State = JobStates.Interrupted };
            }
            else
            {
                await CleanUpCancelledAsync(run.Job, CancellationToken.None);
                final = run.Job with { State = JobStates.Cancelled };
            }
        }
        catch (Exception e)
        {
            var code = e is StoragePoolException s ? s.Code : ErrorCode.Internal;
            var message = e is StoragePoolException ? e.Message : $"internal error: {e.Message}";
            if (run.Job.Kind == JobKinds.Copy)
            {
                message += $"; resume with 'storagepool job resume {run.Job.Id}' or by running the same copy again";
            }
            _logger.JobFailed(run.Job.Id, message);
            final = run.Job with { State = JobStates.Failed, ErrorCode = code.Id(), Error = message };
        }
        final = Live(final with { FinishedAt = DateTimeOffset.UtcNow }, run);
        await SaveAsync(final, CancellationToken.None);
        lock (_running)
        {
            _running.Remove(run.Job.Id);
        }
        _logger.JobFinished(final.Id, final.State);
    }

    private async Task<JobInfo> SendAsync(JobRun run, CancellationToken ct)
    {
        var job = run.Job;
        var live = !job.Source.Contains('@', StringComparison.Ordinal);
        if (live && job.Snapshot is null)
        {
            // watch before looking for clients, so that no write falls between the two
            using var watcher = _pool.WatchWrites(job.Source);
            var volume = await _pool.GetVolumeAsync(VolumeRef.Parse(job.Source), ct);
            if (_pool.ClientsOf(volume.Id) > 0)
            {
                job = await SnapshotSourceAsync(run, ct); // in use: copy a point in time
            }
            else
            {
                // nobody has it open: send it directly, and if a client writes meanwhile, go again from a snapshot
                // (a copy's receiver already holds the unchanged chunks; an export writes its file again)
                try
                {
                    return await SendOnceAsync(run, job, job.Source, () => watcher.Changed, ct);
                }
                catch (SourceChangedException)
                {
                    job = await SnapshotSourceAsync(run, ct);
                    if (job.Kind == JobKinds.Export)
                    {
                        job = job with { Overwrite = true };
                    }
                }
            }
        }
        var source = job.Snapshot is null ? job.Source : $"{job.Source}@{job.Snapshot}";
        job = await SendOnceAsync(run, job, source, null, ct);
        await DeleteEngineSnapshotAsync(job, ct);
        return job with { Snapshot = null };
    }

    /// <summary>Takes the point-in-time snapshot a copy of a volume in use is made from (removed when the job ends).</summary>
    private async Task<JobInfo> SnapshotSourceAsync(JobRun run, CancellationToken ct)
    {
        var job = run.Job;
        var volume = VolumeRef.Parse(job.Source);
        var name = "transfer-" + job.Id;
        await _pool.CreateSnapshotAsync(new SnapshotRef(volume.Pool, volume.Name, name), ct);
        job = run.Job = job with { Snapshot = name };
        await SaveAsync(job, ct);
        return job;
    }

    private async Task<JobInfo> SendOnceAsync(JobRun run, JobInfo job, string source, Func<bool>? sourceChanged, CancellationToken ct)
    {
        var lease = await _pool.OpenAsync(source, VolumeHolder.Connection, ct);
        await using (lease)
        {
            IChunkSink sink = job.Kind == JobKinds.Copy
                ? new PeerChunkSink(new Uri(job.To!), _options.Token, job.Target, _options.Tls?.Ca)
                : new StreamFileSink(job.Path!, job.Overwrite);
            await using (sink)
            {
                var localPeer = job.Kind == JobKinds.Export || await IsThisHostAsync(new Uri(job.To!).Host, ct);
                run.Progress = new TransferProgress();
                var sender = new VolumeSender(lease.Volume, sink, Settings(job) with { SourceChanged = sourceChanged }, run.Progress, localPeer);
                var result = await sender.RunAsync(job.Id, job.Incremental, job.Overwrite, ct);
                run.BytesWritten = result.Sink.BytesWritten;
                return job with { Digest = result.Digest.ToString(), AllocatedBytes = result.Sink.AllocatedBytes, Resumed = job.Resumed || result.Resumed };
            }
        }
    }

    private async Task<JobInfo> ImportAsync(JobRun run, CancellationToken ct)
    {
        var job = run.Job;
        await using var file = new FileStream(job.Path!, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var header = await VolumeStreamFile.ReadHeaderAsync(file, job.Path!, ct);
        var layout = ChunkLayout.Create(header.VolumeSize, header.ChunkSize);
        run.Progress.SetTotal(file.Length);
        await _receive.BeginAsync(new BeginTransferRequest(job.Id, job.Path!, job.Target, header.VolumeSize, header.ChunkSize,
            Incremental: false, job.Overwrite, header.DataBytes), ct);
        try
        {
            var recordHeader = new byte[ChunkRecord.HeaderSize];
            var payload = new byte[Zstd.CompressBound(layout.ChunkSize)];
            while (true)
            {
                var before = file.Position;
                var (record, digest) = await VolumeStreamFile.ReadRecordAsync(file, job.Path!, layout, recordHeader, payload, ct);
                if (record is not { } r)
                {
                    var done = await _receive.CompleteAsync(job.Id, digest.ToString(), ct);
                    run.BytesWritten = done.BytesWritten;
                    run.Progress.Sent(file.Position - before, 0, zero: false);
                    return job with { Digest = done.Digest, AllocatedBytes = done.AllocatedBytes };
                }
                run.Progress.Read(r.PayloadLength);
                await _receive.ReceiveRecordAsync(job.Id, r, payload.AsMemory(0, r.PayloadLength), ct);
                run.Progress.Sent(file.Position - before, r.PayloadLength, r.Kind == ChunkKind.Zero);
            }
        }
        catch
        {
            await _receive.AbortAsync(job.Id, CancellationToken.None);
            throw;
        }
    }

    private TransferSettings Settings(JobInfo job)
    {
        var limiters = new List<RateLimiter>();
        if (job.BandwidthBytesPerSecond is { } bw)
        {
            limiters.Add(new RateLimiter(bw));
        }
        if (_daemonCap is not null)
        {
            limiters.Add(_daemonCap);
        }
        return new TransferSettings(job.ChunkSizeBytes ?? ChunkLayout.DefaultChunkSize, job.Streams, CompressionModes.Parse(job.Compression),
            limiters, TestDamage.FromEnvironment());
    }

    private async Task CleanUpCancelledAsync(JobInfo job, CancellationToken ct)
    {
        if (job.Kind == JobKinds.Copy)
        {
            try
            {
                await using var sink = new PeerChunkSink(new Uri(job.To!), _options.Token, job.Target, _options.Tls?.Ca);
                await sink.AbortAsync(job.Id, ct);
            }
            catch (StoragePoolException e)
            {
                _logger.JobFailed(job.Id, $"the receiver did not drop the cancelled transfer: {e.Message}");
            }
        }
        else if (job.Kind == JobKinds.Export && job.Path is { } path)
        {
            File.Delete(path);
        }
        await DeleteEngineSnapshotAsync(job, ct);
    }

    private async Task DeleteEngineSnapshotAsync(JobInfo job, CancellationToken ct)
    {
        if (job.Snapshot is { } snapshot)
        {
            try
            {
                await _pool.DeleteSnapshotAsync(new SnapshotRef(SourceVolume(job.Source).Pool, SourceVolume(job.Source).Name, snapshot), ct);
            }
            catch (StoragePoolException e) when (e.Code == ErrorCode.SnapshotNotFound)
            {
            }
        }
    }

    /// <summary>The job as stored, with the live counters of its run if it is running.</summary>
    private JobInfo Live(JobInfo job)
    {
        JobRun? run;
        lock (_running)
        {
            _running.TryGetValue(job.Id, out run);
        }
        return run is null ? job : Live(run.Job, run);
    }

    private static JobInfo Live(JobInfo job, JobRun run)
    {
        var p = run.Progress;
        return job with
        {
            Progress = new JobProgress(p.BytesTotal, p.BytesDone, p.BytesRead, p.BytesSent, p.BytesUnchanged, run.BytesWritten,
                p.ChunksSent, p.ChunksZero, p.ChunksUnchanged, p.Retries, Math.Round(p.Elapsed.TotalSeconds, 3)),
        };
    }

    private async Task<string> CheckSourceAsync(string? source, CancellationToken ct)
    {
        if (source is null)
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, "the job needs a source POOL/NAME or POOL/NAME@SNAPSHOT");
        }
        await _pool.CheckExportAsync(source, ct);
        return source;
    }

    /// <summary>Whether <paramref name="host"/> is this machine (loopback or one of its addresses).</summary>
    private static async Task<bool> IsThisHostAsync(string host, CancellationToken ct)
    {
        var addresses = await System.Net.Dns.GetHostAddressesAsync(host, ct);
        var own = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address).ToHashSet();
        return addresses.All(a => System.Net.IPAddress.IsLoopback(a) || own.Contains(a));
    }

    private static VolumeRef SourceVolume(string source) =>
        source.Contains('@', StringComparison.Ordinal) ? SnapshotRef.Parse(source).VolumeRef : VolumeRef.Parse(source);

    private static Uri ParsePeer(string? to)
    {
        if (to is null || !Uri.TryCreate(to, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument,
                $"'{to}' is not a daemon address; give the destination's --listen address as a URL, e.g. http://10.0.0.2:7100");
        }
        return uri;
    }

    private static string AbsolutePath(string? path) =>
        path is { Length: > 0 } p && Path.IsPathFullyQualified(p) ? p
            : throw new StoragePoolException(ErrorCode.InvalidArgument, $"'{path}' is not an absolute file path");

    private async Task<JobInfo> LoadAsync(string id, CancellationToken ct)
    {
        var kv = await _metadata.GetAsync(KeyPrefix + id, ct);
        if (kv is null)
        {
            lock (_running)
            {
                if (_running.TryGetValue(id, out var run))
                {
                    return run.Job;
                }
            }
            throw new StoragePoolException(ErrorCode.JobNotFound, $"no job '{id}'; see 'storagepool job list'");
        }
        return JsonSerializer.Deserialize(kv.Value, ApiJsonContext.Default.JobInfo)!;
    }

    private async Task<IReadOnlyList<JobInfo>> LoadAllAsync(CancellationToken ct)
    {
        var range = await _metadata.RangeAsync(KeyPrefix, ct);
        return [.. range.Items.Select(kv => JsonSerializer.Deserialize(kv.Value, ApiJsonContext.Default.JobInfo)!)];
    }

    private async Task SaveAsync(JobInfo job, CancellationToken ct) =>
        await _metadata.TxnAsync(Transaction.Of(new Op.Put(KeyPrefix + job.Id, JsonSerializer.SerializeToUtf8Bytes(job, ApiJsonContext.Default.JobInfo))), ct);

    private sealed class JobRun(JobInfo job)
    {
        public JobInfo Job { get; set; } = job;

        /// <summary>The counters of the current pass (a copy that goes again from a snapshot starts new ones).</summary>
        public TransferProgress Progress { get; set; } = new();

        public CancellationTokenSource Cancel { get; } = new();

        public Task Task { get; set; } = Task.CompletedTask;

        public long BytesWritten { get; set; }

        /// <summary>The daemon is stopping: the job is interrupted, not cancelled.</summary>
        public bool Stopping { get; set; }
    }
}
