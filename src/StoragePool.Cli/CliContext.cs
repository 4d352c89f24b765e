using System.CommandLine;
using System.Text.Json;
using StoragePool.Api;
using StoragePool.Core.Errors;

namespace StoragePool.Cli;

/// <summary>What every command needs: where the daemon is, where output goes, and one way to run and fail.</summary>
internal sealed class CliContext(Output output)
{
    public ConnectionOptions Connection { get; } = new();

    public Output Output { get; } = output;

    /// <summary>A new <c>--json</c> option for a list or show command.</summary>
    public static Option<bool> JsonOption() => new("--json")
    {
        Description = "Print the daemon's JSON (snake_case fields, sizes in bytes) instead of a table",
    };

    /// <summary>
    /// Gives <paramref name="command"/> its examples and its action. The action gets a connected client;
    /// a <see cref="StoragePoolException"/> (from the arguments or from the daemon) becomes one line on
    /// stderr and the error's exit code.
    /// </summary>
    public Command Run(Command command, string[] examples, Func<ParseResult, StoragePoolClient, CancellationToken, Task> action)
    {
        Examples.Add(command, examples);
        command.SetAction(async (result, ct) =>
        {
            try
            {
                using var client = await Connection.ConnectAsync(result, ct);
                await action(result, client, ct);
                return 0;
            }
            catch (StoragePoolException e)
            {
                return Output.Error(e);
            }
            catch (Exception e) when (e is JsonException or HttpRequestException or IOException)
            {
                return Output.Error(new StoragePoolException(ErrorCode.Internal,
                    $"the daemon's answer could not be read ({e.Message}); see the daemon's log", e));
            }
        });
        return command;
    }

    /// <summary>Gives a command that only groups others (<c>storagepool volume</c>) its examples.</summary>
    public static Command Group(Command group, string[] examples)
    {
        Examples.Add(group, examples);
        return group;
    }
}
