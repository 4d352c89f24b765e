namespace StoragePool.Storage.IO;

/// <summary>
/// The stages every data-changing request (write, trim, write-zeroes) of one volume passes, in order, after it
/// has been checked (range, read-only) and before it is applied to the volume's data and acknowledged:
/// QoS token buckets wait here, the replication log appends here. A stage that throws stops the request: nothing
/// is applied, the caller sees the exception. <see cref="BlockVolume"/> is the only caller, so nothing reaches a
/// volume's data without passing here.
/// </summary>
public sealed class WritePath
{
    private readonly IWriteStage[] _stages;

    /// <param name="stages">run in this order for every request; copied, so later changes to the list do not count.</param>
    public WritePath(IReadOnlyList<IWriteStage> stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        _stages = [.. stages];
        if (Array.IndexOf(_stages, null) >= 0)
        {
            throw new ArgumentException("a write path's stages cannot be null", nameof(stages));
        }
    }

    /// <summary>No stages: requests go straight to the data. The default.</summary>
    public static WritePath Empty { get; } = new([]);

    public IReadOnlyList<IWriteStage> Stages => _stages;

    /// <summary>
    /// Runs every stage in order. <paramref name="data"/> is the bytes of a <see cref="WriteKind.Write"/>,
    /// empty for <see cref="WriteKind.Trim"/> and <see cref="WriteKind.WriteZeroes"/> (the range reads as zeros
    /// afterwards). A stage must not keep <paramref name="data"/> past its returned task: the caller reuses the buffer.
    /// </summary>
    public ValueTask RunAsync(WriteRequest request, ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _stages.Length switch
        {
            0 => ValueTask.CompletedTask,
            1 => _stages[0].BeforeWriteAsync(request, data, cancellationToken),
            _ => RunAllAsync(request, data, cancellationToken),
        };

    private async ValueTask RunAllAsync(WriteRequest request, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        foreach (var stage in _stages)
        {
            await stage.BeforeWriteAsync(request, data, cancellationToken);
        }
    }
}
