using System.Text;

namespace StoragePool.Daemon.DBus;

/// <summary>An argument of a method or signal: its name and D-Bus type.</summary>
internal sealed record BusArgument(string Name, string Type);

/// <summary>Runs a method for one object; the arguments were read when the call arrived.</summary>
internal delegate Task<Reply> MethodHandler(BusNode node, MessageArguments arguments, CancellationToken ct);

/// <summary>A method: its arguments, whether only root may call it (it changes something), and what it does.</summary>
internal sealed record BusMethod(string Name, BusArgument[] In, BusArgument[] Out, bool RootOnly, MethodHandler Handler)
{
    public string InSignature { get; } = string.Concat(In.Select(a => a.Type));
}

/// <summary>A read-only property, written from the state the interface loads for its object.</summary>
internal sealed record BusProperty(string Name, string Type, Action<MessageWriter, object> Write)
{
    public static BusProperty Of<T>(string name, string type, Action<MessageWriter, T> write) =>
        new(name, type, (writer, state) => write(writer, (T)state));
}

internal sealed record BusSignal(string Name, BusArgument[] Arguments);

/// <summary>
/// One D-Bus interface: the single description from which calls are dispatched, properties are read
/// and the introspection XML is written.
/// </summary>
internal sealed record BusInterface(
    string Name,
    BusMethod[] Methods,
    BusProperty[] Properties,
    BusSignal[] Signals,
    Func<BusNode, CancellationToken, Task<object>>? LoadState)
{
    public BusMethod? Method(string member) => Methods.FirstOrDefault(m => m.Name == member);

    public BusProperty? Property(string name) => Properties.FirstOrDefault(p => p.Name == name);
}

/// <summary>What to send back for a call: a method return with a body, or an error.</summary>
internal sealed record Reply(Action<MessageWriter>? Body, string? ErrorName = null, string? ErrorMessage = null)
{
    public static Reply Empty { get; } = new((Action<MessageWriter>?)null);

    public static Reply Of(Action<MessageWriter> body) => new(body);

    public static Reply Error(string name, string message) => new(null, name, message);
}

/// <summary>Names and replies of the interfaces every object has.</summary>
internal static class StandardInterfaces
{
    public const string Peer = "org.freedesktop.DBus.Peer";
    public const string Introspectable = "org.freedesktop.DBus.Introspectable";
    public const string Properties = "org.freedesktop.DBus.Properties";

    public const string ErrorUnknownObject = "org.freedesktop.DBus.Error.UnknownObject";
    public const string ErrorUnknownInterface = "org.freedesktop.DBus.Error.UnknownInterface";
    public const string ErrorUnknownProperty = "org.freedesktop.DBus.Error.UnknownProperty";
    public const string ErrorPropertyReadOnly = "org.freedesktop.DBus.Error.PropertyReadOnly";
    public const string ErrorInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";

    public static bool IsStandard(string name) => name is Peer or Introspectable or Properties;

    private const string StandardXml = """
         <interface name="org.freedesktop.DBus.Peer">
          <method name="Ping"/>
          <method name="GetMachineId">
           <arg type="s" name="machine_uuid" direction="out"/>
          </method>
         </interface>
         <interface name="org.freedesktop.DBus.Introspectable">
          <method name="Introspect">
           <arg name="xml_data" type="s" direction="out"/>
          </method>
         </interface>
         <interface name="org.freedesktop.DBus.Properties">
          <method name="Get">
           <arg name="interface_name" direction="in" type="s"/>
           <arg name="property_name" direction="in" type="s"/>
           <arg name="value" direction="out" type="v"/>
          </method>
          <method name="GetAll">
           <arg name="interface_name" direction="in" type="s"/>
           <arg name="props" direction="out" type="a{sv}"/>
          </method>
          <method name="Set">
           <arg name="interface_name" direction="in" type="s"/>
           <arg name="property_name" direction="in" type="s"/>
           <arg name="value" direction="in" type="v"/>
          </method>
          <signal name="PropertiesChanged">
           <arg type="s" name="interface_name"/>
           <arg type="a{sv}" name="changed_properties"/>
           <arg type="as" name="invalidated_properties"/>
          </signal>
         </interface>

        """;

    /// <summary>The introspection document of one node: its interfaces and the names of its children.</summary>
    public static string Introspect(IEnumerable<BusInterface> interfaces, IEnumerable<string> children)
    {
        var xml = new StringBuilder();
        xml.Append("""
            <!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
            "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
            <node>

            """);
        xml.Append(StandardXml);
        foreach (var iface in interfaces)
        {
            xml.Append(" <interface name=\"").Append(iface.Name).Append("\">\n");
            foreach (var method in iface.Methods)
            {
                xml.Append("  <method name=\"").Append(method.Name).Append("\">\n");
                foreach (var arg in method.In)
                {
                    Arg(xml, arg, "in");
                }
                foreach (var arg in method.Out)
                {
                    Arg(xml, arg, "out");
                }
                xml.Append("  </method>\n");
            }
            foreach (var property in iface.Properties)
            {
                // Properties change with the data and no PropertiesChanged is sent: watch the manager's signals.
                xml.Append("  <property name=\"").Append(property.Name).Append("\" type=\"").Append(property.Type)
                    .Append("\" access=\"read\">\n")
                    .Append("   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"false\"/>\n")
                    .Append("  </property>\n");
            }
            foreach (var signal in iface.Signals)
            {
                xml.Append("  <signal name=\"").Append(signal.Name).Append("\">\n");
                foreach (var arg in signal.Arguments)
                {
                    Arg(xml, arg, null);
                }
                xml.Append("  </signal>\n");
            }
            xml.Append(" </interface>\n");
        }
        foreach (var child in children)
        {
            xml.Append(" <node name=\"").Append(child).Append("\"/>\n");
        }
        xml.Append("</node>\n");
        return xml.ToString();

        static void Arg(StringBuilder xml, BusArgument arg, string? direction)
        {
            xml.Append("   <arg name=\"").Append(arg.Name).Append("\" type=\"").Append(arg.Type).Append('"');
            if (direction is not null)
            {
                xml.Append(" direction=\"").Append(direction).Append('"');
            }
            xml.Append("/>\n");
        }
    }
}
