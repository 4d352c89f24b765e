using System.Buffers;
using StoragePool.Api;
using StoragePool.Cluster.Control;
using StoragePool.Core.Errors;
using StoragePool.Core.Naming;
using StoragePool.Daemon.Hosting;
using StoragePool.Transfer.Chunks;
using StoragePool.Transfer.Engine;
using StoragePool.Transfer.Tcp;

namespace StoragePool.Daemon.Transfers;

/// <summary>
/// The receiving side of transfers: one session per transfer id, holding the target volume open and its journal
/// (<c>DATA_DIR/transfers/ID.journal</c>), and the data channel that chunks arrive on (TCP, on
/// <c>--transfer-listen</c>). A session survives its sender's failures; after a restart of this daemon the same id
/// finds the target (state receiving) and the journal again.
/// </summary>
internal sealed class ReceiveSessions : IHostedService, IAsyncDisposable
{
    private readonly PoolManager _pool;
    private readonly string _journalDir;
    private readonly ILogger<ReceiveSessions> _logger;
    /// <summary>Changed under <see cref="_lock"/> (one begin or end at a time) and, briefly, under its own lock for readers.</summary>
    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly DaemonOptions _options;
    private DataChannelServer? _data;

    public ReceiveSessions(PoolManager pool, DaemonOptions options, ILogger<ReceiveSessions> logger)
    {
        _pool = pool;
        _options = options;
        _journalDir = Path.Combine(options.DataDir, "transfers");
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.TransferListen is { } endpoint)
        {
            _data = new DataChannelServer(endpoint, _options.Token, _options.Tls?.LoadCertificate(), id => Get(id).Receiver, _logger);
            _data.Start();
            _logger.DataChannelListening(_data.EndPoint);
        }
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _data, null) is { } data)
        {
            await data.DisposeAsync();
        }
    }

    public async Task<TransferSession> BeginAsync(BeginTransferRequest request, CancellationToken ct)
    {
        ValidateId(request.TransferId);
        var dataPort = _data?.EndPoint.Port ?? 0; // 0: no data channel (no --listen); imports need none
        var target = VolumeRef.Parse(request.Target);
        var layout = ChunkLayout.Create(request.VolumeSize, request.ChunkSize);
        await _lock.WaitAsync(ct);
        try
        {
            Session? old;
            lock (_sessions)
            {
                _sessions.Remove(request.TransferId, out old);
            }
            if (old is not null)
            {
                await old.DisposeAsync(); // the sender starts over (a resume): the journal is reread
            }
            var (lease, start) = await _pool.BeginReceiveAsync(target, request.TransferId, request.VolumeSize, request.DataBytes,
                request.Overwrite, request.Incremental, ct);
            try
            {
                var journalPath = JournalPath(request.TransferId);
                if (start != ReceiveStart.Resumed)
                {
                    ReceiveJournal.Delete(journalPath); // left by a transfer that never finished: not ours
                }
                if (start == ReceiveStart.Overwriting)
                {
                    await lease.Volume.WriteZeroesAsync(0, lease.Volume.Size, Storage.IO.WriteOptions.None, ct);
                }
                var baseline = request.Incremental
                    ? await ChunkReceiver.ScanAsync(lease.Volume, layout, Environment.ProcessorCount, ct)
                    : null;
                var journal = ReceiveJournal.Open(journalPath);
                var receiver = new ChunkReceiver(lease.Volume, layout, journal, baseline,
                    targetMayHoldData: start is ReceiveStart.Resumed or ReceiveStart.Updating);
                var session = new Session(target, lease, receiver, journalPath);
                lock (_sessions)
                {
                    _sessions[request.TransferId] = session;
                }
                var known = receiver.Known.Count;
                _logger.TransferReceiving(request.TransferId, request.Source, target, start, known);
                return new TransferSession(request.TransferId, target.ToString(), start.ToString().ToLowerInvariant(), known, dataPort, _options.Tls?.Certificate is not null);
            }
            catch
            {
                await lease.DisposeAsync();
                throw;
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public byte[] Known(string id) => PeerChunkSink.EncodeKnown(Get(id).Receiver.Known);

    /// <summary>One chunk already in memory (an import reads them from a stream file).</summary>
    public Task ReceiveRecordAsync(string id, ChunkRecord record, ReadOnlyMemory<byte> payload, CancellationToken ct) =>
        Get(id).Receiver.ReceiveAsync(record, payload, ct);

    public async Task<TransferCompletion> CompleteAsync(string id, string digest, CancellationToken ct)
    {
        var session = Get(id);
        var verified = await session.Receiver.CompleteAsync(ChunkChecksum.Parse(digest), ct);
        var written = session.Receiver.BytesWritten;
        await RemoveAsync(id);
        var volume = await _pool.FinishReceiveAsync(session.Target, id, ct);
        ReceiveJournal.Delete(session.JournalPath);
        _logger.TransferReceived(id, session.Target, written, verified);
        return new TransferCompletion(written, volume.AllocatedBytes, verified.ToString());
    }

    /// <summary>Drops a transfer: the half-received target is deleted (its data is a mix of old and new).</summary>
    public async Task AbortAsync(string id, CancellationToken ct)
    {
        ValidateId(id);
        var session = await RemoveAsync(id);
        var target = session?.Target;
        if (target is null)
        {
            return;
        }
        await _pool.DeleteVolumeAsync(target.Value, withSnapshots: true, force: true, ct);
        ReceiveJournal.Delete(session!.JournalPath);
        _logger.TransferAborted(id, target.Value);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        Session[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions.Values];
            _sessions.Clear();
        }
        foreach (var session in sessions)
        {
            await session.DisposeAsync();
        }
        _lock.Dispose();
    }

    private string JournalPath(string id) => Path.Combine(_journalDir, id + ".journal");

    private Session Get(string id)
    {
        lock (_sessions)
        {
            return _sessions.TryGetValue(id, out var s) ? s
                : throw new StoragePoolException(ErrorCode.JobNotFound, $"no transfer {id} is being received here; the sender must begin it again");
        }
    }

    private async Task<Session?> RemoveAsync(string id)
    {
        Session? session;
        await _lock.WaitAsync();
        try
        {
            lock (_sessions)
            {
                _sessions.Remove(id, out session);
            }
        }
        finally
        {
            _lock.Release();
        }
        if (session is not null)
        {
            await session.DisposeAsync();
        }
        return session;
    }

    private static void ValidateId(string id)
    {
        if (id is not { Length: > 0 and <= 64 } || !id.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            throw new StoragePoolException(ErrorCode.InvalidArgument, $"'{id}' is not a transfer id (letters, digits and '-', at most 64)");
        }
    }

    private sealed record Session(VolumeRef Target, VolumeLease Lease, ChunkReceiver Receiver, string JournalPath) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Receiver.DisposeAsync();
            await Lease.DisposeAsync();
        }
    }
}
