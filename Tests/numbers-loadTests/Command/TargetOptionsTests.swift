import ArgumentParser
import Foundation
import NIOCore
import NumberTLS
import Testing

@testable import numbers_load

/// A numberd run with `--client-ca` wants a client certificate on every connection, loopback included: without
/// `--cert` / `--cert-key` numbers-load could not reach it at all.
@Suite("numbers-load's client certificate")
struct TargetOptionsTests {
    @Test("--cert and --cert-key go into the client's configuration; none leaves it without one")
    func clientCertificate() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-cert-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/tls", withIntermediateDirectories: true)
        try Data("local CA".utf8).write(to: URL(fileURLWithPath: folder + "/tls/ca.pem"))
        let (chain, key) = (folder + "/client.pem", folder + "/client-key.pem")
        try Data("certificate".utf8).write(to: URL(fileURLWithPath: chain))
        try Data("key".utf8).write(to: URL(fileURLWithPath: key))

        let given = try TargetOptions.parse(["--data-dir", folder, "--cert", chain, "--cert-key", key])
        let configuration = try given.clientConfiguration(apiKey: nil, timeout: .seconds(1))
        #expect(configuration.clientCertificate?.chain == TLSCertificateSource.file(chain))
        #expect(configuration.clientCertificate?.key == TLSPrivateKeySource.file(key))

        let none = try TargetOptions.parse(["--data-dir", folder])
        #expect(try none.clientConfiguration(apiKey: nil, timeout: .seconds(1)).clientCertificate?.chain == nil)
    }

    @Test("half a pair, or a path with no file, is a usage error before anything is sent")
    func halfAPairRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-cert-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let chain = folder + "/client.pem"
        try Data("certificate".utf8).write(to: URL(fileURLWithPath: chain))

        #expect(throws: ValidationError.self) { try TargetOptions.parse(["--cert", chain]).clientCertificate() }
        #expect(throws: ValidationError.self) {
            try TargetOptions.parse(["--cert-key", folder + "/client-key.pem"]).clientCertificate()
        }
        #expect(throws: ValidationError.self) {
            try TargetOptions.parse(["--cert", chain, "--cert-key", folder + "/missing.pem"]).clientCertificate()
        }
        // Both commands check it with their other options, before the run starts.
        #expect(throws: (any Error).self) { try RunLoad.parse(["--cert", chain]) }
        #expect(throws: (any Error).self) { try ConnectionsCommand.parse(["--cert", chain]) }
    }

    /// numbers-load took its admin key only as `--key` or `NUMBERS_KEY`: on the command line other users see it
    /// (`ps`), where the `numbers` CLI offers `--key-file` and `NUMBERS_KEY_FILE`.
    @Test("--key-file and NUMBERS_KEY_FILE give the admin key, owner-only; two at one level are refused")
    func keyFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("load-key-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = folder + "/admin.key"
        try Data("nk_from_file\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(chmod(file, 0o600) == 0)

        let flagged = try TargetOptions.parse(["--key-file", file])
        #expect(try flagged.givenKey(environment: [:]) == "nk_from_file")
        #expect(!flagged.keyFromDataDirectory)
        #expect(try flagged.givenKey(environment: ["NUMBERS_KEY": "nk_env"]) == "nk_from_file", "the flag first")
        let none = try TargetOptions.parse([])
        #expect(try none.givenKey(environment: ["NUMBERS_KEY_FILE": file]) == "nk_from_file")
        #expect(try none.givenKey(environment: ["NUMBERS_KEY": "nk_env"]) == "nk_env")
        #expect(try none.givenKey(environment: [:]) == nil)
        #expect(throws: ValidationError.self) {
            try none.givenKey(environment: ["NUMBERS_KEY": "nk_env", "NUMBERS_KEY_FILE": file])
        }
        #expect(throws: ValidationError.self) {
            try TargetOptions.parse(["--key", "nk_flag", "--key-file", file]).givenKey(environment: [:])
        }
        #expect(chmod(file, 0o644) == 0)
        #expect(throws: ValidationError.self, "readable by others: refused") { try flagged.givenKey(environment: [:]) }
    }
}
