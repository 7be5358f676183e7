import Foundation

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

    /// The default RPC address.
    public static let server = "127.0.0.1:7443"
}
