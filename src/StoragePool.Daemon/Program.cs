namespace StoragePool.Daemon; internal static class Program { private static int Main() => 0; }
