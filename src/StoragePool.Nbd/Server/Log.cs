using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace StoragePool.Nbd.Server;

/// <summary>The NBD server's log lines, event ids 5000–5099. A misbehaving client costs one line per frame it spoils.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "NBD server listening on {Endpoint}")]
    internal static partial void Listening(this ILogger logger, string endpoint);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "NBD server stopped; {Connections} connections were open")]
    internal static partial void Stopped(this ILogger logger, int connections);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Debug, Message = "NBD connection {Connection} from {Peer}")]
    internal static partial void ConnectionAccepted(this ILogger logger, long connection, string peer);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Debug, Message = "NBD connection {Connection} closed after {Requests} requests")]
    internal static partial void ConnectionClosed(this ILogger logger, long connection, long requests);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information,
        Message = "NBD connection {Connection} serves {Export} ({Access}, {Transport})")]
    internal static partial void ExportOpened(this ILogger logger, long connection, string export, string access, string transport);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Accepting an NBD connection on {Endpoint} failed")]
    internal static partial void AcceptFailed(this ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning,
        Message = "NBD server stop: {Connections} connections did not finish their requests in time and were cut")]
    internal static partial void StopTimedOut(this ILogger logger, int connections);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Warning, Message = "NBD connection {Connection} dropped during the handshake: {Reason}")]
    internal static partial void HandshakeFailed(this ILogger logger, long connection, string reason);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Information,
        Message = "NBD connection {Connection}: option {Option} refused with {Reply}: {Reason}")]
    internal static partial void OptionRefused(this ILogger logger, long connection, string option, string reply, string reason);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Warning, Message = "NBD connection {Connection}: TLS handshake failed")]
    internal static partial void TlsFailed(this ILogger logger, long connection, Exception exception);

    [LoggerMessage(EventId = 5013, Level = LogLevel.Debug, Message = "NBD connection {Connection} upgraded to {Protocol}")]
    internal static partial void TlsStarted(this ILogger logger, long connection, SslProtocols protocol);

    [LoggerMessage(EventId = 5020, Level = LogLevel.Warning,
        Message = "NBD connection {Connection} dropped: bad request magic 0x{Magic:x8}; the stream cannot be trusted past it")]
    internal static partial void BadRequestMagic(this ILogger logger, long connection, uint magic);

    [LoggerMessage(EventId = 5021, Level = LogLevel.Warning,
        Message = "NBD connection {Connection}: {Command} at {Offset}+{Length} refused with {Error}: {Reason}")]
    internal static partial void RequestRefused(this ILogger logger, long connection, string command, ulong offset, uint length, string error, string reason);

    [LoggerMessage(EventId = 5022, Level = LogLevel.Warning, Message = "NBD connection {Connection} dropped: {Reason}")]
    internal static partial void ConnectionDropped(this ILogger logger, long connection, string reason);

    [LoggerMessage(EventId = 5023, Level = LogLevel.Warning,
        Message = "NBD connection {Connection}: {Command} at {Offset}+{Length} on {Export} failed with {Error}")]
    internal static partial void RequestFailed(this ILogger logger, long connection, string command, ulong offset, uint length, string export, string error, Exception exception);

    [LoggerMessage(EventId = 5024, Level = LogLevel.Information, Message = "NBD connection {Connection}: {Export} was taken away; disconnecting")]
    internal static partial void VolumeRevoked(this ILogger logger, long connection, string export);

    [LoggerMessage(EventId = 5025, Level = LogLevel.Debug, Message = "NBD connection {Connection}: sending a reply failed")]
    internal static partial void SendFailed(this ILogger logger, long connection, Exception exception);

    [LoggerMessage(EventId = 5030, Level = LogLevel.Warning,
        Message = "NBD connection {Connection} on {Export}: {Command} at {Offset}+{Length} has waited {Seconds:0.0} s for its reply: " +
            "{Stage}; {Others} more of its requests wait too long. The connection has {InFlight} requests in flight; its reader is " +
            "{Reader}; its sender {Sender}")]
    internal static partial void RequestStuck(this ILogger logger, long connection, string export, string command, ulong offset,
        uint length, double seconds, string stage, int others, int inFlight, string reader, string sender);

    [LoggerMessage(EventId = 5031, Level = LogLevel.Information,
        Message = "NBD connection {Connection} on {Export} answers in time again; {Requests} requests waited too long, the longest {Seconds:0.0} s")]
    internal static partial void RequestsAnsweredAgain(this ILogger logger, long connection, string export, int requests, double seconds);

    [LoggerMessage(EventId = 5026, Level = LogLevel.Error, Message = "NBD connection {Connection} failed")]
    internal static partial void ConnectionFailed(this ILogger logger, long connection, Exception exception);
}
