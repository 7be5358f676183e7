import Foundation
import NumberTLS
import Synchronization
import TestSupport
import Testing

/// An encrypted private key is refused at once with a clear error. OpenSSL given no passphrase callback asks for the
/// passphrase on the terminal (or reads standard input), and a start with such a key waited for ever.
@Suite("Encrypted private keys")
struct EncryptedKeyTests {
    /// How each key is encrypted: PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`) and OpenSSL's traditional format
    /// (`Proc-Type: 4,ENCRYPTED`).
    enum Format: String, CaseIterable, Sendable {
        case pkcs8
        case traditional

        var arguments: [String] {
            switch self {
            case .pkcs8: ["pkey", "-aes256", "-passout", "pass:x"]
            case .traditional: ["pkey", "-traditional", "-aes256", "-passout", "pass:x"]
            }
        }
    }

    @Test("a key encrypted by openssl pkey is refused at once, from a file and from memory", arguments: Format.allCases)
    func refusedAtOnce(format: Format) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("enckey-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plain = directory + "/plain.pem"
        let encrypted = directory + "/encrypted.pem"
        try TestPKI.shared.server.write(certificateTo: directory + "/server.pem", privateKeyTo: plain)
        try Self.openssl(format.arguments + ["-in", plain, "-out", encrypted])
        let text = try String(contentsOfFile: encrypted, encoding: .utf8)
        #expect(text.contains("ENCRYPTED"), "\(text)")

        for key in [TLSPrivateKeySource.file(encrypted), .pem(text)] {
            let configuration = TLSConfiguration.server(
                certificateChain: TestPKI.shared.server.certificateChain, privateKey: key)
            // On a thread of its own, bounded: the old code blocked reading a passphrase.
            let outcome = await Self.bounded(seconds: 10) { () -> (any Error)? in
                do {
                    _ = try TLSContext(configuration: configuration)
                    return nil
                } catch {
                    return error
                }
            }
            let result = try #require(outcome, "loading an encrypted key did not return within 10 s (a prompt?)")
            let error = try #require(result as? TLSError, "loaded an encrypted key without a passphrase")
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("encrypted private keys are not supported"), "\(error)")
            #expect(error.message.contains("openssl pkey"), "\(error)")
        }
    }

    /// Runs `body` on a new thread and waits for it at most `seconds`; nil if it has not returned by then (the thread
    /// is left behind: a hang must fail the test, not stop the run).
    static func bounded<T: Sendable>(seconds: Int, _ body: @escaping @Sendable () -> T) async -> T? {
        let result = Outcome<T>()
        Thread {
            let value = body()
            result.value.withLock { $0 = value }
        }.start()
        let deadline = ContinuousClock.now + .seconds(seconds)
        while result.value.withLock({ $0 == nil }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return result.value.withLock { $0 }
    }

    /// What the thread returned, once it has.
    private final class Outcome<T: Sendable>: Sendable {
        let value = Mutex<T?>(nil)
    }

    /// Runs the openssl CLI with standard input closed, bounded.
    static func openssl(_ arguments: [String]) throws {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let ending = ChildExit.waitBlocking(process, timeout: .seconds(30))
        #expect(ending == .exited(0), "openssl \(arguments)")
    }
}
