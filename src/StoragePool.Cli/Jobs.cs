using System.CommandLine;
using System.Globalization;
using StoragePool.Api;
using StoragePool.Core.Errors;
using StoragePool.Core.Sizes;

namespace StoragePool.Cli;

/// <summary><c>storagepool job list|show|cancel|resume</c>, and following a job to its end for copy, export and import.</summary>
internal static class Jobs
{
    /// <summary>How often the progress line is redrawn; the daemon answers at once when the job ends.</summary>
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(250);

    public static Command Command(CliContext cli) => CliContext.Group(
        new Command("job", "Transfer jobs (volume copy, export, import): progress, cancel, resume")
        {
            List(cli), ShowJob(cli), Cancel(cli), Resume(cli),
        },
        ["storagepool job list", "storagepool job show 3f2a9c01b7d4"]);

    public static readonly IReadOnlyList<Column<JobInfo>> Columns =
    [
        new("ID", j => j.Id),
        new("KIND", j => j.Kind),
        new("STATE", j => j.State),
        new("SOURCE", j => j.Source),
        new("DESTINATION", Destination),
        new("DONE", j => Percent(j.Progress), AlignRight: true),
        new("SENT", j => Show.Size(j.Progress.BytesSent), AlignRight: true),
        new("STARTED", j => Show.Time(j.CreatedAt)),
    ];

    public static IEnumerable<(string, string)> Details(JobInfo j)
    {
        var p = j.Progress;
        yield return ("Job", j.Id);
        yield return ("Kind", j.Kind);
        yield return ("State", j.State);
        yield return ("Source", j.Source);
        yield return ("Destination", Destination(j));
        yield return ("Progress", $"{Show.Size(p.BytesDone)} of {Show.Size(p.BytesTotal)} ({Percent(p)})");
        yield return ("Rate", Rate(p));
        yield return ("ETA", j.State == JobStates.Running ? Eta(p) : "-");
        yield return ("Read", Show.Size(p.BytesRead));
        yield return ("Sent", Show.Size(p.BytesSent));
        yield return ("Unchanged", Show.Size(p.BytesUnchanged));
        yield return ("Written", Show.Size(p.BytesWritten));
        yield return ("Chunks", $"{p.ChunksSent} sent ({p.ChunksZero} zero), {p.ChunksUnchanged} unchanged, {p.Retries} resent");
        yield return ("Elapsed", Seconds(p.ElapsedSeconds));
        yield return ("Streams", j.Streams.ToString(CultureInfo.InvariantCulture));
        yield return ("Compression", j.Compression);
        yield return ("Bandwidth", j.BandwidthBytesPerSecond is { } bw ? Show.Size(bw) + "/s" : "unlimited");
        if (j.Snapshot is { } snapshot)
        {
            yield return ("Snapshot", snapshot);
        }
        if (j.Digest is { } digest)
        {
            yield return ("Digest", digest);
        }
        if (j.Error is { } error)
        {
            yield return ("Error", error);
        }
        yield return ("Started", Show.Time(j.CreatedAt));
        yield return ("Finished", j.FinishedAt is { } f ? Show.Time(f) : "-");
    }

    /// <summary>
    /// Follows <paramref name="job"/> until it ends: a progress line on stderr when it is a terminal, then the summary
    /// (or the job's JSON). A failed or cancelled job is an error with the job's error code.
    /// </summary>
    public static async Task FollowAsync(CliContext cli, StoragePoolClient client, JobInfo job, bool json, bool wait, CancellationToken ct)
    {
        if (job.Resumed)
        {
            cli.Output.Note($"job {job.Id} resumes an earlier run of this copy");
        }
        if (!wait)
        {
            if (json)
            {
                cli.Output.Json(job, ApiJsonContext.Default.JobInfo);
            }
            else
            {
                cli.Output.Done($"started job {job.Id}; follow it with: storagepool job show {job.Id}");
            }
            return;
        }
        while (job.State == JobStates.Running)
        {
            cli.Output.Progress(Line(job));
            job = await client.GetJobAsync(job.Id, PollEvery, ct);
        }
        cli.Output.Progress(null);
        if (json)
        {
            cli.Output.Json(job, ApiJsonContext.Default.JobInfo);
        }
        if (job.State != JobStates.Succeeded)
        {
            var code = job.ErrorCode is { } id && ErrorCodes.TryParseId(id, out var c) ? c : ErrorCode.Cancelled;
            throw new StoragePoolException(code, job.Error ?? $"job {job.Id} was {job.State}");
        }
        if (!json)
        {
            cli.Output.Done(Summary(job));
        }
    }

    private static string Summary(JobInfo j)
    {
        var p = j.Progress;
        var verb = j.Kind switch { JobKinds.Copy => "copied", JobKinds.Export => "exported", _ => "imported" };
        return $"{verb} {j.Source} to {Destination(j)} in {Seconds(p.ElapsedSeconds)}: read {Show.Size(p.BytesRead)}, " +
            $"sent {Show.Size(p.BytesSent)}, written {Show.Size(p.BytesWritten)}, unchanged {Show.Size(p.BytesUnchanged)}; " +
            $"{(j.AllocatedBytes is { } a ? $"the copy takes {Show.Size(a)}; " : string.Empty)}digest {j.Digest}";
    }

    private static string Line(JobInfo j)
    {
        var p = j.Progress;
        const int width = 24;
        var fraction = p.BytesTotal > 0 ? Math.Clamp((double)p.BytesDone / p.BytesTotal, 0, 1) : 0;
        var filled = (int)(fraction * width);
        return $"{j.Kind} {j.Id} [{new string('#', filled)}{new string('.', width - filled)}] " +
            $"{Show.Size(p.BytesDone)}/{Show.Size(p.BytesTotal)} {Percent(p)}  {Rate(p)}  ETA {Eta(p)}";
    }

    private static string Destination(JobInfo j) => j.Kind switch
    {
        JobKinds.Copy => $"{j.To} as {j.Target}",
        _ => j.Target,
    };

    private static string Percent(JobProgress p) =>
        p.BytesTotal > 0 ? Show.Percent(Math.Round(100.0 * p.BytesDone / p.BytesTotal, 1)) : "-";

    private static string Rate(JobProgress p) => Show.Size((long)p.BytesPerSecond) + "/s";

    private static string Eta(JobProgress p) =>
        p.EtaSeconds is { } eta ? TimeSpan.FromSeconds(Math.Ceiling(eta)).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "-";

    private static string Seconds(double seconds) => seconds.ToString("0.00", CultureInfo.InvariantCulture) + " s";

    private static Argument<string> IdArgument() => new("ID") { Description = "The job's id (see 'storagepool job list')" };

    private static Command List(CliContext cli)
    {
        var json = CliContext.JsonOption();
        return cli.Run(new Command("list", "List running and finished jobs") { json },
            ["storagepool job list", "storagepool job list --json"],
            async (r, client, ct) => cli.Output.List(await client.ListJobsAsync(ct), r.GetValue(json), ApiJsonContext.Default.IReadOnlyListJobInfo, Columns));
    }

    private static Command ShowJob(CliContext cli)
    {
        var id = IdArgument();
        var json = CliContext.JsonOption();
        return cli.Run(new Command("show", "Show a job: progress, rate, ETA, bytes read, sent and written") { id, json },
            ["storagepool job show 3f2a9c01b7d4", "storagepool job show 3f2a9c01b7d4 --json"],
            async (r, client, ct) => cli.Output.Item(await client.GetJobAsync(r.GetRequiredValue(id), ct: ct), r.GetValue(json), ApiJsonContext.Default.JobInfo, Details));
    }

    private static Command Cancel(CliContext cli)
    {
        var id = IdArgument();
        return cli.Run(new Command("cancel", "Stop a job; the destination drops what it received (a copy's target volume, an export's file)") { id },
            ["storagepool job cancel 3f2a9c01b7d4"],
            async (r, client, ct) =>
            {
                var job = await client.CancelJobAsync(r.GetRequiredValue(id), ct);
                cli.Output.Done($"job {job.Id} is {job.State}");
            });
    }

    private static Command Resume(CliContext cli)
    {
        var id = IdArgument();
        var json = CliContext.JsonOption();
        var noWait = NoWaitOption();
        return cli.Run(new Command("resume", "Continue a failed or interrupted copy where the receiver's journal ends") { id, noWait, json },
            ["storagepool job resume 3f2a9c01b7d4"],
            async (r, client, ct) =>
                await FollowAsync(cli, client, await client.ResumeJobAsync(r.GetRequiredValue(id), ct), r.GetValue(json), !r.GetValue(noWait), ct));
    }

    public static Option<bool> NoWaitOption() => new("--no-wait")
    {
        Description = "Print the job's id and return; follow it with 'storagepool job show ID'",
    };

    public static long? Bandwidth(string? text)
    {
        if (text is null)
        {
            return null;
        }
        return ByteSize.TryParse(text, out var bytes, out var problem) ? bytes
            : throw new StoragePoolException(ErrorCode.InvalidArgument, $"--bandwidth '{text}': {problem} (bytes per second, e.g. 200M)");
    }
}
