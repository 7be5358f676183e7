import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a local numberd keeps its data when nothing says otherwise, so the server and the `numbers` CLI agree:
/// `$NUMBERD_DATA_DIR`, else `$XDG_DATA_HOME/numberd`, else `~/.local/share/numberd`. The CA the CLI trusts is
/// `<dir>/tls/ca.pem` and the first admin key is in `<dir>/admin.key`.
public enum LocalDefaults {
    /// The default data directory.
    public static func dataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit = environment["NUMBERD_DATA_DIR"], !explicit.isEmpty { return explicit }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/numberd" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/share/numberd"
    }

    /// The local CA certificate under a data directory.
    public static func caCertificate(dataDirectory: String) -> String { dataDirectory + "/tls/ca.pem" }

    /// The admin key file under a data directory.
    public static func adminKeyFile(dataDirectory: String) -> String { dataDirectory + "/admin.key" }

    /// The most read of a data directory's `provider.json` (numberd writes a few names there): by numberd, and by
    /// `numbers-load`, which reads its `kind`.
    public static let providerBindingBytesMax = 64 << 10

    /// The default RPC address.
    public static let server = "127.0.0.1:7443"

    /// Whether `host` is this machine's loopback: `localhost`, an IPv4 address in 127.0.0.0/8, `::1` or an
    /// IPv4-mapped `::ffff:127.x.x.x`. Any other name is not, even one that resolves to loopback today (what it
    /// resolves to can change).
    public static func isLoopback(host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
    }
}
