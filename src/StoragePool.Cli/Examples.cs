using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Runtime.CompilerServices;

namespace StoragePool.Cli;

/// <summary>Usage examples, shown as an "Examples:" section at the end of each command's <c>--help</c>.</summary>
internal static class Examples
{
    private static readonly ConditionalWeakTable<Command, string[]> ByCommand = [];

    public static void Add(Command command, params string[] examples) => ByCommand.AddOrUpdate(command, examples);

    /// <summary>Makes <c>--help</c> of <paramref name="root"/> and every command under it end with the examples.</summary>
    public static void AddToHelp(RootCommand root)
    {
        foreach (var option in root.Options)
        {
            if (option is HelpOption { Action: HelpAction help } helpOption)
            {
                helpOption.Action = new HelpWithExamples(help);
            }
        }
    }

    private sealed class HelpWithExamples(HelpAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => help.ClearsParseErrors;

        public override int Invoke(ParseResult parseResult)
        {
            var exitCode = help.Invoke(parseResult);
            if (ByCommand.TryGetValue(parseResult.CommandResult.Command, out var examples) && examples.Length > 0)
            {
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine(examples.Length == 1 ? "Example:" : "Examples:");
                foreach (var example in examples)
                {
                    output.WriteLine("  " + example);
                }
                output.WriteLine();
            }
            return exitCode;
        }
    }
}
