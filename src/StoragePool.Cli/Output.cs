using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Spectre.Console;
using Spectre.Console.Rendering;
using StoragePool.Core.Errors;
using StoragePool.Core.Sizes;

namespace StoragePool.Cli;

/// <summary>One column of a table: its header, how to show a row's value, and which side it aligns to.</summary>
internal sealed record Column<T>(string Header, Func<T, string> Value, bool AlignRight = false);

/// <summary>
/// Everything the CLI prints. Results go to stdout: tables for people, JSON for <c>--json</c>, one line to
/// confirm a change. Notes and errors go to stderr, one line each, prefixed <c>storagepool:</c>.
/// When stdout is not a terminal, output is plain text: no colours, no borders, no trailing blanks.
/// </summary>
internal sealed class Output
{
    /// <summary>Tables are never wrapped inside their cells: a line per row, whatever its length.</summary>
    private const int UnwrappedWidth = 4096;

    private static readonly Style Header = new(decoration: Decoration.Bold);

    private readonly IAnsiConsole _console;
    private readonly StringWriter? _plain;
    private readonly TextWriter _out;
    private readonly TextWriter _error;

    private Output(IAnsiConsole console, StringWriter? plain, TextWriter @out, TextWriter error)
    {
        _console = console;
        _plain = plain;
        _out = @out;
        _error = error;
    }

    /// <summary>
    /// Output to this process's stdout and stderr. On a terminal Spectre detects what it supports; otherwise
    /// (a pipe, a file) it renders plain text, because Spectre's detection looks at TERM, not at stdout.
    /// </summary>
    public static Output ForConsole()
    {
        if (!Console.IsOutputRedirected)
        {
            var terminal = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.Detect,
                ColorSystem = ColorSystemSupport.Detect,
                Interactive = InteractionSupport.No,
                Out = new AnsiConsoleOutput(Console.Out),
            });
            return new Output(terminal, null, Console.Out, Console.Error);
        }
        var plain = new StringWriter(CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(plain),
        });
        console.Profile.Width = UnwrappedWidth;
        console.Profile.Capabilities.Unicode = false;
        return new Output(console, plain, Console.Out, Console.Error);
    }

    private bool IsTerminal => _plain is null;

    /// <summary>Prints <paramref name="value"/> in the API's own JSON shape (snake_case, sizes in bytes).</summary>
    public void Json<T>(T value, JsonTypeInfo<T> type) => _out.WriteLine(JsonSerializer.Serialize(value, type));

    /// <summary>The one line that confirms a change, e.g. <c>created volume vms/db1 (10 GiB)</c>.</summary>
    public void Done(string message) => _out.WriteLine(message);

    /// <summary>Redraws the one progress line on stderr (a terminal only); null clears it.</summary>
    public void Progress(string? line)
    {
        if (Console.IsErrorRedirected)
        {
            return;
        }
        _error.Write(line is null ? "\r\u001b[K" : "\r\u001b[K" + line);
    }

    public void Note(string note) => _error.WriteLine("storagepool: note: " + OneLine(note));

    /// <summary>Prints the error as one line and returns the exit code that goes with it.</summary>
    public int Error(StoragePoolException error)
    {
        _error.WriteLine("storagepool: error: " + OneLine(error.Message));
        return error.Code.ExitCode();
    }

    /// <summary>A list: the daemon's JSON array with <c>--json</c>, else a table.</summary>
    public void List<T>(IReadOnlyList<T> rows, bool json, JsonTypeInfo<IReadOnlyList<T>> type, IReadOnlyList<Column<T>> columns)
    {
        if (json)
        {
            Json(rows, type);
        }
        else
        {
            Table(rows, columns);
        }
    }

    /// <summary>One object: the daemon's JSON with <c>--json</c>, else its details.</summary>
    public void Item<T>(T item, bool json, JsonTypeInfo<T> type, Func<T, IEnumerable<(string Name, string Value)>> details)
    {
        if (json)
        {
            Json(item, type);
        }
        else
        {
            Details(details(item));
        }
    }

    /// <summary>Rows under a header line, columns aligned; long rows stay one line (the terminal wraps them).</summary>
    private void Table<T>(IEnumerable<T> rows, IReadOnlyList<Column<T>> columns) => Render(BuildTable(rows, columns), UnwrappedWidth);

    /// <summary>A "Name: value" list, for one object.</summary>
    private void Details(IEnumerable<(string Name, string Value)> fields) => Render(BuildDetails(fields), UnwrappedWidth);

    /// <summary>A part of a one-screen summary: a panel on a terminal, a title line before the table otherwise.</summary>
    public void Section<T>(string title, IEnumerable<T> rows, IReadOnlyList<Column<T>> columns) =>
        Section(title, BuildTable(rows, columns));

    /// <inheritdoc cref="Section{T}"/>
    public void Section(string title, IEnumerable<(string Name, string Value)> fields) =>
        Section(title, BuildDetails(fields));

    private void Section(string title, IRenderable content)
    {
        if (IsTerminal)
        {
            Render(new Panel(content) { Header = new PanelHeader($" {Markup.Escape(title)} "), Border = BoxBorder.Rounded }, null);
        }
        else
        {
            _out.WriteLine(title + ":");
            Render(content, null);
            _out.WriteLine();
        }
    }

    /// <summary>
    /// Writes to the terminal (at <paramref name="width"/>, or the terminal's), or else as plain lines
    /// without the padding Spectre leaves at their ends.
    /// </summary>
    private void Render(IRenderable content, int? width)
    {
        if (_plain is not null)
        {
            _console.Write(content);
            var text = _plain.ToString();
            _plain.GetStringBuilder().Clear();
            foreach (var line in text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n'))
            {
                _out.WriteLine(line.TrimEnd());
            }
            return;
        }
        var screen = _console.Profile.Width;
        _console.Profile.Width = width ?? screen;
        try
        {
            _console.Write(content);
        }
        finally
        {
            _console.Profile.Width = screen;
        }
    }

    private static Table BuildTable<T>(IEnumerable<T> rows, IReadOnlyList<Column<T>> columns)
    {
        var table = new Table { Border = TableBorder.None, ShowHeaders = true };
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(new Text(column.Header, Header))
            {
                Alignment = column.AlignRight ? Justify.Right : Justify.Left,
                Padding = new Padding(0, 0, 2, 0),
                NoWrap = true,
            });
        }
        foreach (var row in rows)
        {
            table.AddRow(columns.Select(c => (IRenderable)new Text(c.Value(row))));
        }
        return table;
    }

    private static Grid BuildDetails(IEnumerable<(string Name, string Value)> fields)
    {
        var grid = new Grid();
        grid.AddColumn(new GridColumn { NoWrap = true, Padding = new Padding(0, 0, 2, 0) });
        grid.AddColumn(new GridColumn());
        foreach (var (name, value) in fields)
        {
            grid.AddRow(new Text(name + ":", Header), new Text(value));
        }
        return grid;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}

/// <summary>How values look to people.</summary>
internal static class Show
{
    public static string Size(long bytes) => ByteSize.Format(bytes);

    public static string Count(int count) => count.ToString(CultureInfo.InvariantCulture);

    public static string Percent(double percent) => percent.ToString("0.##", CultureInfo.InvariantCulture) + "%";

    public static string Ratio(double ratio) => ratio.ToString("0.##", CultureInfo.InvariantCulture) + "x";

    public static string Time(DateTimeOffset time) =>
        time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
