import Foundation
import NumberAPI
import NumberClient
import Testing

/// Which servers the local data directory's admin key may go to (`NumbersClientConfiguration.localAdminKey`): one on
/// this machine's loopback checked against that directory's own CA, so only a server holding the local CA's key
/// (beside `admin.key`) receives it.
@Suite("the local admin key stays on this machine")
struct LocalAdminKeyTests {
    @Test(
        "loopback hosts",
        arguments: [
            ("localhost", true), ("LocalHost", true), ("127.0.0.1", true), ("127.3.2.1", true), ("::1", true),
            ("::ffff:127.0.0.1", true), ("0:0:0:0:0:0:0:1", true), ("128.0.0.1", false), ("10.0.0.1", false),
            ("0.0.0.0", false), ("::", false), ("::2", false), ("::ffff:10.0.0.1", false), ("other.example", false),
            ("localhost.example", false), ("127.0.0.1.example", false), ("", false),
        ])
    func loopback(host: String, expected: Bool) {
        #expect(LocalDefaults.isLoopback(host: host) == expected, "\(host)")
    }

    @Test("the key for a loopback server checked against the local CA, and for no other")
    func localAdminKey() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("client-admin-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        try FileManager.default.createDirectory(atPath: data + "/tls", withIntermediateDirectories: true)
        try "nk_local\n".write(toFile: data + "/admin.key", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: data + "/admin.key")
        let environment = ["NUMBERD_DATA_DIR": data]
        let localCA = data + "/tls/ca.pem"
        #expect(try NumbersClientConfiguration.localDefault(environment: environment).apiKey == "nk_local")
        for host in ["127.0.0.1", "localhost", "::1"] {
            #expect(
                try NumbersClientConfiguration.localAdminKey(host: host, caPath: localCA, environment: environment)
                    == "nk_local", "\(host)")
        }
        // The same file by another spelling of its path.
        #expect(
            try NumbersClientConfiguration.localAdminKey(
                host: "127.0.0.1", caPath: data + "/tls/../tls/ca.pem", environment: environment) == "nk_local")
        #expect(
            try NumbersClientConfiguration.localAdminKey(
                host: "other.example", caPath: localCA, environment: environment) == nil)
        #expect(
            try NumbersClientConfiguration.localAdminKey(host: "10.1.2.3", caPath: localCA, environment: environment)
                == nil)
        #expect(
            try NumbersClientConfiguration.localAdminKey(
                host: "127.0.0.1", caPath: data + "/remote-ca.pem", environment: environment) == nil,
            "a loopback port forwarded to another numberd, checked against that one's CA")
    }

    /// `admin.key` was read whatever its mode, while a `--key-file` others can read is refused: a copy of it made
    /// with mode 0644 handed the admin key to every local user, and the client sent it on. It is now read as every
    /// key file is, and one group or others may read is refused with the chmod that fixes it.
    @Test("an admin.key that group or others may read is refused, with the chmod to fix it")
    func localAdminKeyOthersCanRead() throws {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("client-admin-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        try FileManager.default.createDirectory(atPath: data + "/tls", withIntermediateDirectories: true)
        let keyFile = data + "/admin.key"
        try "nk_local\n".write(toFile: keyFile, atomically: false, encoding: .utf8)
        let environment = ["NUMBERD_DATA_DIR": data]
        let localCA = data + "/tls/ca.pem"
        for mode in [0o644, 0o640, 0o620, 0o604] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: keyFile)
            let refused = #expect(throws: SecretFileError.self, "mode \(String(mode, radix: 8))") {
                try NumbersClientConfiguration.localAdminKey(
                    host: "127.0.0.1", caPath: localCA, environment: environment)
            }
            #expect(refused?.description.contains("chmod 600 \(keyFile)") == true, "\(String(describing: refused))")
            #expect(refused?.description.contains("nk_local") == false, "the secret is never shown")
            #expect(throws: SecretFileError.self) {
                try NumbersClientConfiguration.localDefault(environment: environment)
            }
        }
        // Not for another server: nothing is read, so nothing is refused.
        #expect(
            try NumbersClientConfiguration.localAdminKey(host: "10.1.2.3", caPath: localCA, environment: environment)
                == nil)
        for mode in [0o600, 0o400] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: keyFile)
            #expect(
                try NumbersClientConfiguration.localAdminKey(
                    host: "127.0.0.1", caPath: localCA, environment: environment) == "nk_local")
        }
    }
}
