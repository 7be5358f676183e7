import Foundation
import NumberServer
import NumberTLS
import TestSupport
import Testing

/// Runs `openssl s_client` to completion: `input` goes to its stdin (then EOF after `holdInput`), its combined
/// output and exit status come back. Killed after `timeout` (generous: a starved child can take tens of seconds).
func runSClient(
    _ arguments: [String], input: String = "", holdInput: Duration = .zero, timeout: Duration = .seconds(120)
) async throws -> (status: Int32, output: String) {
    let process = SpawnedProcess()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = ["s_client"] + arguments
    let stdin = Pipe()
    let output = Pipe()
    process.standardInput = stdin
    process.standardOutput = output
    process.standardError = output
    try process.run()
    try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
    // Stdin stays open for `holdInput` or until s_client ends by itself (a refusal's alert ends it at once).
    let holdEnd = ContinuousClock.now + holdInput
    while process.isRunning, ContinuousClock.now < holdEnd { try await Task.sleep(for: .milliseconds(20)) }
    try stdin.fileHandleForWriting.close()
    var ending = await ChildExit.wait(process, timeout: timeout)
    if ending == nil {
        process.send(SIGKILL)
        ending = await ChildExit.wait(process, timeout: .seconds(10))
    }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (ending?.status ?? -1, text)
}

/// The numberd server's TLS, probed with `openssl s_client`: the server context is built as `Numberd` builds it
/// (`TLSConfiguration.server` defaults + ALPN `nrpc/1`, client certificates required when a client CA is set).
@Suite("TLS probe of the numberd server with openssl s_client")
struct TLSProbeTests {
    let tls: TestTLS
    let directory: String

    init() throws {
        tls = try TestTLS()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tlsprobe-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try tls.authority.write(certificateTo: directory + "/ca.pem", privateKeyTo: directory + "/ca.key")
    }

    func base(_ port: Int) -> [String] {
        [
            "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-alpn", "nrpc/1", "-CAfile",
            directory + "/ca.pem",
        ]
    }

    @Test(
        "TLS 1.2 and 1.3 connect with a forward-secret AEAD suite and no compression",
        arguments: ["-tls1_3", "-tls1_2"])
    func modernVersions(version: String) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withTestServer(router: abuseRouter(), tls: tls) { _, port in
            let probe = try await runSClient(
                base(port) + [version, "-verify_return_error"], holdInput: .milliseconds(300))
            #expect(probe.output.contains("Verify return code: 0 (ok)"), "\(probe.output)")
            #expect(probe.output.contains(version == "-tls1_3" ? "New, TLSv1.3" : "New, TLSv1.2"), "\(probe.output)")
            #expect(probe.output.contains("Compression: NONE"), "\(probe.output)")
            #expect(probe.output.contains("ALPN protocol: nrpc/1"), "\(probe.output)")
            let cipher = probe.output.split(separator: "\n").first { $0.contains("Cipher is") } ?? ""
            #expect(cipher.contains("GCM") || cipher.contains("CHACHA20"), "\(cipher)")
            if version == "-tls1_2" { #expect(cipher.contains("ECDHE"), "\(cipher)") }
        }
    }

    @Test(
        "old versions and weak or non-forward-secret suites are refused",
        arguments: [
            ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
            ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
            ["-tls1_2", "-cipher", "RC4:3DES:NULL:EXPORT:aNULL:eNULL:@SECLEVEL=0"],
            ["-tls1_2", "-cipher", "AES128-SHA"],
            ["-tls1_2", "-cipher", "AES256-GCM-SHA384"],
            ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"],
            ["-tls1_2", "-cipher", "DHE-RSA-AES128-SHA:DHE-RSA-AES256-SHA256"],
        ])
    func refused(arguments: [String]) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withTestServer(router: abuseRouter(), tls: tls) { _, port in
            let probe = try await runSClient(base(port) + arguments)
            #expect(probe.status != 0, "\(probe.output)")
            // The server answers with an alert (protocol_version or handshake_failure); nothing is negotiated.
            #expect(probe.output.contains("SSL alert number"), "\(probe.output)")
            #expect(probe.output.contains("Cipher is (NONE)"), "\(probe.output)")
            // The server still serves a proper client afterwards.
            let good = try await runSClient(base(port) + ["-tls1_3"], holdInput: .milliseconds(200))
            #expect(good.output.contains("New, TLSv1.3"), "\(good.output)")
        }
    }

    @Test("TLS 1.2 renegotiation requested by the client is refused")
    func noRenegotiation() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // s_client sends no preface: the SETTINGS timeout (10 s by default) must not close it first in a starved run.
        let configuration = NumberServerConfiguration(port: 0, connection: .init(settingsTimeout: .seconds(600)))
        try await withTestServer(router: abuseRouter(), tls: tls, configuration: configuration) { _, port in
            // s_client reads "R" on its own line as "renegotiate"; the server must not complete a new handshake.
            // Stdin stays open until the refusal ends s_client (at once): at its EOF s_client stops, refused or not,
            // and a starved start can take more than the 1 s it had to get there.
            let probe = try await runSClient(base(port) + ["-tls1_2"], input: "R\n", holdInput: .seconds(60))
            #expect(probe.output.contains("RENEGOTIATING"), "\(probe.output)")
            let handshakes = probe.output.components(separatedBy: "Verify return code: 0 (ok)").count - 1
            #expect(handshakes <= 1, "\(probe.output)")
            #expect(probe.output.contains("no renegotiation") || probe.status != 0, "\(probe.output)")
        }
    }

    @Test(
        "with a client CA, a client without a certificate or with one from another CA is refused",
        arguments: ["none", "foreign", "trusted"])
    func mutualTLS(client: String) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let issued = try tls.authority.issueServerCertificate()
        var configuration = TLSConfiguration.server(
            certificateChain: issued.certificateChain, privateKey: issued.privateKey)
        configuration.applicationProtocols = ["nrpc/1"]
        configuration.clientAuthentication = .required
        configuration.trustRoots = tls.authority.trustRoots
        let server = NumberServer(
            configuration: NumberServerConfiguration(port: 0),
            transport: .tls(try TLSContext(configuration: configuration)), router: abuseRouter(), logger: quietLogger)
        var arguments = ["-tls1_3"]
        switch client {
        case "foreign":
            let foreign = try CertificateAuthority.generate().issueClientCertificate(commonName: "intruder")
            try foreign.write(certificateTo: directory + "/client.pem", privateKeyTo: directory + "/client.key")
            arguments += ["-cert", directory + "/client.pem", "-key", directory + "/client.key"]
        case "trusted":
            let trusted = try tls.authority.issueClientCertificate(commonName: "billing")
            try trusted.write(certificateTo: directory + "/client.pem", privateKeyTo: directory + "/client.key")
            arguments += ["-cert", directory + "/client.pem", "-key", directory + "/client.key"]
        default:
            break
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let port = try await server.listeningAddress().port!
            // TLS 1.3: the refusal arrives on the client's first read after the handshake; send bytes to provoke it,
            // and keep stdin open until it comes (a refused s_client ends at the alert; on a loaded machine 500 ms
            // was once not enough and s_client closed cleanly first).
            let hold: Duration = client == "trusted" ? .milliseconds(500) : .seconds(15)
            let probe = try await runSClient(base(port) + arguments, input: "x", holdInput: hold)
            if client == "trusted" {
                // The server answered with its SETTINGS frame (the garbage preface then gets a GOAWAY).
                #expect(probe.output.contains("New, TLSv1.3"), "\(probe.output)")
                #expect(!probe.output.contains("alert"), "\(probe.output)")
            } else {
                #expect(
                    probe.output.contains("alert certificate required") || probe.output.contains("alert"),
                    "\(probe.output)")
                #expect(probe.status != 0, "\(probe.output)")
            }
            group.cancelAll()
        }
    }
}
