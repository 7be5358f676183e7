import ArgumentParser
import Foundation
import NumberAPI
import NumberTLS
import TwilioSimulator

/// `twilio-sim`: runs the Twilio simulator on loopback until interrupted.
@main
struct TwilioSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "twilio-sim",
        abstract: "A local server that speaks Twilio's phone-number REST API (2010 numbers, Pricing v1, Trunking v1).",
        version: NumberdVersion.current)

    /// Initializes OpenSSL first (``OpenSSLProcess``: an exit with connections open must not free it under them), then
    /// runs the command.
    static func main() async {
        OpenSSLProcess.initialize()
        await main(nil)
    }

    @Option(help: "Address to listen on, HOST:PORT or [IPV6]:PORT (port 0 picks a free one).")
    var listen = "127.0.0.1:0"

    @Option(help: "Seed of the inventory, SIDs and fault decisions.")
    var seed: UInt64 = 1

    @Option(help: "Account SID to accept (default: derived from the seed).")
    var accountSid: String?

    @Option(help: "Auth token to accept (default: derived from the seed).")
    var authToken: String?

    @Option(name: .customLong("api-key"), help: "An API key to accept, SK_SID:SECRET (repeatable).")
    var apiKeys: [String] = []

    @Option(help: "Share of each numbering area the simulated carrier holds, per mille (1...1000).")
    var densityPerMille = SimulatorConfiguration.Limits.defaults.inventoryDensityPerMille

    @Option(
        name: .customLong("fault"),
        help: ArgumentHelp("Inject a fault (repeatable).", discussion: FaultRule.specGrammar))
    var faults: [String] = []

    @Option(help: "Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "PEM file of the CA that issued --tls-cert, shown to clients.")
    var tlsCa: String?

    @Option(
        help: """
            Serve HTTPS with a certificate issued at start by a local CA kept in DIR: DIR/twilio-sim-ca.pem (what \
            clients trust) and its key DIR/twilio-sim-ca-key.pem, generated when missing or within 30 days of its end, \
            else kept across restarts.
            """)
    var tlsGenerate: String?

    @Option(
        help: """
            Keep the account's numbers and trunks across restarts in this JSON file and FILE.journal, the changes since \
            it (default: in memory only).
            """)
    var stateFile: String?

    @Flag(
        inversion: .prefixedNo,
        help:
            "Refuse purchases of numbers with address requirements when no AddressSid is sent (21631), as Twilio does.")
    var enforceAddressRequirements = true

    @Option(
        name: .customLong("approved-bundle"),
        help: """
            COUNTRY[/TYPE]=BUNDLE_SID: a regulatory Bundle approved for the account (BU + 32 hex) for a country's \
            numbers of one type (local, mobile, toll_free) or, without one, all; repeatable; purchases of regulated \
            numbers (GB) need one approved for them, else 400/21649 as at Twilio (default: none).
            """)
    var approvedBundles: [String] = []

    mutating func run() async throws {
        let configuration = try makeConfiguration()
        let rules = try faults.map { spec in
            do { return try FaultRule.parse(spec) } catch { throw ValidationError(String(describing: error)) }
        }
        var withFaults = configuration
        withFaults.faults = rules
        let simulator = try await TwilioSimulator.start(configuration: withFaults, tls: try makeTLS())
        try? FileHandle.standardOutput.write(contentsOf: Data((Self.banner(simulator) + "\n").utf8))
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(3600))
        }
        try await simulator.shutdown()
    }

    private func makeTLS() throws -> SimulatorTLS? {
        if let tlsGenerate {
            guard tlsCert == nil && tlsKey == nil else {
                throw ValidationError("--tls-generate excludes --tls-cert/--tls-key")
            }
            return try SimulatorTLS.generated(directory: tlsGenerate)
        }
        switch (tlsCert, tlsKey) {
        case (nil, nil): return nil
        case (let cert?, let key?):
            return try SimulatorTLS.files(certificatePath: cert, privateKeyPath: key, caPEMPath: tlsCa)
        default: throw ValidationError("--tls-cert and --tls-key go together")
        }
    }

    private func makeConfiguration() throws -> SimulatorConfiguration {
        guard let (host, port) = ListenAddress.parse(listen) else {
            throw ValidationError("--listen must be HOST:PORT, an IPv6 host in brackets ([::1]:8443)")
        }
        var configuration = SimulatorConfiguration.defaults
        configuration.host = host
        configuration.port = port
        configuration.seed = seed
        var credentials = SimulatorCredentials.generated(seed: seed)
        if let accountSid { credentials.accountSid = accountSid }
        if let authToken { credentials.authToken = authToken }
        for key in apiKeys {
            let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasPrefix("SK") else {
                throw ValidationError("--api-key must be SK_SID:SECRET")
            }
            credentials.apiKeys[parts[0]] = parts[1]
        }
        configuration.credentials = credentials
        guard (1...1000).contains(densityPerMille) else {
            throw ValidationError("--density-per-mille must be 1...1000")
        }
        configuration.limits.inventoryDensityPerMille = densityPerMille
        configuration.behavior.enforceAddressRequirements = enforceAddressRequirements
        configuration.stateFile = stateFile
        for entry in approvedBundles {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let key = parts.first.map { $0.split(separator: "/", maxSplits: 1).map(String.init) } ?? []
            guard parts.count == 2, let country = key.first, country.count == 2,
                country.allSatisfy({ $0.isASCII && $0.isUppercase }),
                key.count == 1 || NumberType.allCases.contains(where: { $0.bundleKey == key[1] }),
                parts[1].count == 34, parts[1].hasPrefix("BU"), parts[1].dropFirst(2).allSatisfy(\.isHexDigit)
            else {
                throw ValidationError(
                    "--approved-bundle must be COUNTRY[/local|/mobile|/toll_free]=BU followed by 32 hex digits")
            }
            configuration.approvedBundles[parts[0], default: []].insert(parts[1])
        }
        return configuration
    }

    private static func banner(_ simulator: TwilioSimulator) -> String {
        let credentials = simulator.credentials
        let https = simulator.baseURL.hasPrefix("https:")
        var lines = [
            "twilio-sim listening on \(simulator.baseURL)\(https ? " (numberd's NUMBERD_TWILIO_BASE_URL)" : "")",
            "  2010 API:    \(simulator.url(for: .api)) (Twilio's https://api.twilio.com)",
            "  Pricing:     \(simulator.url(for: .pricing)) (https://pricing.twilio.com)",
            "  Trunking:    \(simulator.url(for: .trunking)) (https://trunking.twilio.com)",
            "  account sid: \(credentials.accountSid)",
            "  auth token:  \(credentials.authToken)",
        ]
        for (sid, secret) in credentials.apiKeys.sorted(by: { $0.key < $1.key }) {
            lines.append("  api key:     \(sid):\(secret)")
        }
        if let ca = simulator.caPEMPath { lines.append("  CA PEM:      \(ca)") }
        if !https {
            lines.append("  plain HTTP:  numberd reaches Twilio only over HTTPS; start with --tls-generate DIR for it")
        }
        return lines.joined(separator: "\n")
    }
}
