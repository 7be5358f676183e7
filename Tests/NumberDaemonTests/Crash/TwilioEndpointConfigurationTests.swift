import Foundation
import NumberCore
import NumberDaemon
import NumberTLS
import Testing
import TwilioSimulator

/// `NUMBERD_TWILIO_BASE_URL`, `NUMBERD_TWILIO_CA_FILE`, `NUMBERD_TWILIO_TIMEOUT_MS`: how the crash harness points
/// numberd at a simulator that outlives it.
@Suite("Twilio endpoint configuration")
struct TwilioEndpointConfigurationTests {
    private let base = ["NUMBERD_DATA_DIR": "/tmp/numberd-config-test"]
    /// `base` with Twilio credentials: the endpoint settings are Twilio's, and a start given one without them is
    /// refused (``ConfigurationTests``).
    private var withCredentials: [String: String] {
        base.merging([
            "TWILIO_ACCOUNT_SID": "AC" + String(repeating: "a", count: 32),
            "TWILIO_AUTH_TOKEN": String(repeating: "b", count: 32),
        ]) { _, new in new }
    }

    @Test("defaults: Twilio's hosts, the system CA store, 15 s")
    func defaults() throws {
        let configuration = try NumberdConfiguration.resolve(flags: [:], environment: base)
        #expect(configuration.twilioBaseURL == nil)
        #expect(configuration.twilioCAFile == nil)
        #expect(configuration.twilioRequestTimeoutMilliseconds == 15_000)
    }

    @Test("the environment sets all three; a trailing slash is dropped")
    func fromEnvironment() throws {
        var environment = base
        environment["NUMBERD_TWILIO_BASE_URL"] = "https://127.0.0.1:8443/"
        environment["NUMBERD_TWILIO_CA_FILE"] = "/etc/sim-ca.pem"
        environment["NUMBERD_TWILIO_TIMEOUT_MS"] = "1000"
        // As SIGHUP's reload resolves them (without the credentials, so the CA file is not read).
        let origin = try NumberdConfiguration.Origin(flags: [:], environment: environment)
        let configuration = try NumberdConfiguration.resolve(origin, environment: origin.startEnvironment)
        #expect(configuration.twilioBaseURL == "https://127.0.0.1:8443")
        #expect(configuration.twilioCAFile == "/etc/sim-ca.pem")
        #expect(configuration.twilioRequestTimeoutMilliseconds == 1000)
    }

    /// libcurl reads the CA file only at a request: a path that was not there (a typo, a file holding no certificate)
    /// let numberd start ready and then failed every Twilio call (CURLE_SSL_CACERT_BADFILE). With Twilio credentials
    /// it must now be a readable file holding a PEM certificate, and the refusal names the setting.
    @Test("with Twilio credentials the CA file must be a readable file holding a PEM certificate, else it is named")
    func twilioCAFileIsCheckedAtStart() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-twilio-ca-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let good = folder + "/ca.pem"
        let authority = try CertificateAuthority.generate(commonName: "sim CA")
        try Data(authority.certificatePEM.utf8).write(to: URL(fileURLWithPath: good))
        let empty = folder + "/empty.pem"
        try Data().write(to: URL(fileURLWithPath: empty))
        let text = folder + "/text.pem"
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: text))
        var environment = base
        environment["TWILIO_ACCOUNT_SID"] = "AC" + String(repeating: "a", count: 32)
        environment["TWILIO_AUTH_TOKEN"] = String(repeating: "b", count: 32)
        for (file, reason) in [
            ("/nonexistent/ca.pem", "cannot be opened"), (empty, "holds no PEM certificate"),
            (text, "holds no PEM certificate"), (folder, "is not a regular file"),
        ] {
            environment["NUMBERD_TWILIO_CA_FILE"] = file
            let error = #expect(throws: ConfigurationError.self, "\(file)") {
                try NumberdConfiguration.resolve(flags: [:], environment: environment)
            }
            let said = error?.description ?? ""
            #expect(said.contains("twilio-ca-file \(file) (NUMBERD_TWILIO_CA_FILE"), "\(said)")
            #expect(said.contains(reason), "\(said)")
        }
        environment["NUMBERD_TWILIO_CA_FILE"] = ""
        let blank = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: environment)
        }
        #expect(blank?.description.hasPrefix("twilio-ca-file must name a file") == true, "\(String(describing: blank))")
        environment["NUMBERD_TWILIO_CA_FILE"] = good
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: environment).twilioCAFile == good)
        // At most 8 MiB (`caFileBytesMax`): the certificate and newlines up to the limit is taken, one byte more not.
        #expect(NumberdConfiguration.caFileBytesMax == 8 << 20)
        let pem = Data(authority.certificatePEM.utf8)
        for (extra, accepted) in [(0, true), (1, false)] {
            let padded = folder + "/padded-\(extra).pem"
            let newlines = Data(repeating: 10, count: NumberdConfiguration.caFileBytesMax - pem.count + extra)
            try (pem + newlines).write(to: URL(fileURLWithPath: padded))
            environment["NUMBERD_TWILIO_CA_FILE"] = padded
            if accepted {
                #expect(try NumberdConfiguration.resolve(flags: [:], environment: environment).twilioCAFile == padded)
            } else {
                let large = #expect(throws: ConfigurationError.self) {
                    try NumberdConfiguration.resolve(flags: [:], environment: environment)
                }
                #expect(large?.description.contains("is larger than 8 MiB") == true, "\(String(describing: large))")
            }
        }
        // A bundle longer than numberd's own cap on a chain (libcurl reads it whole): its first certificate is checked.
        let bundle = folder + "/bundle.pem"
        try Data(String(repeating: authority.certificatePEM, count: 1_100).utf8).write(to: URL(fileURLWithPath: bundle))
        environment["NUMBERD_TWILIO_CA_FILE"] = bundle
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: environment).twilioCAFile == bundle)
        // The in-process simulator is trusted through the data directory's CA: without Twilio credentials the start
        // is refused for the missing credentials, the file unread, and SIGHUP's reload, which resolves without them,
        // neither reads it nor refuses.
        var simulator = base
        simulator["NUMBERD_TWILIO_CA_FILE"] = "/nonexistent/ca.pem"
        let refused = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: simulator)
        }
        #expect(
            refused?.description.contains("without Twilio credentials") == true, "\(String(describing: refused))")
        let origin = try NumberdConfiguration.Origin(flags: [:], environment: simulator)
        let unread = try NumberdConfiguration.resolve(origin, environment: origin.startEnvironment)
        #expect(unread.twilioCAFile == "/nonexistent/ca.pem")
    }

    /// `twilio-base-url` is a twilio-sim's base URL: each API at the prefix the simulator serves it under (and only
    /// there, as each has its own host at Twilio), so numberd's calls reach the API they belong to.
    @Test func theBaseURLIsASimulatorsWithEachAPIUnderItsPrefix() {
        let endpoints = TwilioConfiguration.Endpoints.simulator(at: "https://127.0.0.1:8443")
        #expect(endpoints.api == "https://127.0.0.1:8443/api")
        #expect(endpoints.pricing == "https://127.0.0.1:8443/pricing")
        #expect(endpoints.trunking == "https://127.0.0.1:8443/trunking")
        #expect(endpoints.api == TwilioAPI.api.url(atSimulator: "https://127.0.0.1:8443"))
    }

    @Test(
        "a base URL that is not https is refused",
        arguments: [
            "ftp://host", "127.0.0.1:8443", "https://", "", "http://127.0.0.1:8443", "HTTP://127.0.0.1",
            // A path, query or fragment (the API URLs twilio-sim prints below its base), or Twilio's own hosts (the
            // base is a simulator's; without it numberd uses Twilio): each was taken, and a call then went where
            // something answered 404 like Twilio (the review of the adapter commits).
            "https://127.0.0.1:8443/api", "https://127.0.0.1:8443//", "https://127.0.0.1:8443?x=1",
            "https://127.0.0.1:8443#f", "https://u:p@127.0.0.1:8443", "https://api.twilio.com",
            "https://TRUNKING.TWILIO.COM", "https://twilio.com",
        ])
    func badBaseURL(url: String) {
        var environment = withCredentials
        environment["NUMBERD_TWILIO_BASE_URL"] = url
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: environment)
        }
    }

    /// The adapter's HTTP client sends only https:// requests: an http base URL used to pass here and then fail every
    /// Twilio call, which customers saw as INVALID_ARGUMENT. The start is refused instead, saying how to get HTTPS from
    /// a twilio-sim; the scheme's case does not matter for https.
    @Test func plainHTTPBaseURLIsRefusedSayingHowToServeHTTPS() throws {
        var environment = withCredentials
        environment["NUMBERD_TWILIO_BASE_URL"] = "http://127.0.0.1:8443"
        let error = try #require(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: environment)
        }
        #expect(error.description.contains("not https://"), "\(error)")
        #expect(error.description.contains("--tls-generate"), "\(error)")
        environment["NUMBERD_TWILIO_BASE_URL"] = "HTTPS://127.0.0.1:8443"
        let configuration = try NumberdConfiguration.resolve(flags: [:], environment: environment)
        #expect(configuration.twilioBaseURL == "HTTPS://127.0.0.1:8443")
    }

    @Test("a twilio-sim's base with or without its trailing slash is taken")
    func goodBaseURLs() throws {
        for url in ["https://127.0.0.1:8443", "https://127.0.0.1:8443/", "https://sim.example:443"] {
            var environment = withCredentials
            environment["NUMBERD_TWILIO_BASE_URL"] = url
            let configuration = try NumberdConfiguration.resolve(flags: [:], environment: environment)
            #expect(configuration.twilioBaseURL == (url.hasSuffix("/") ? String(url.dropLast()) : url))
        }
    }

    /// Production: without a base URL numberd reaches Twilio's own three hosts, no prefix (no other test covers it:
    /// every other one runs a simulator).
    @Test func withoutABaseURLNumberdUsesTwiliosHosts() throws {
        let configuration = try NumberdConfiguration.resolve(flags: [:], environment: base)
        let endpoints = Numberd.twilioEndpoints(configuration)
        #expect(endpoints.api == "https://api.twilio.com")
        #expect(endpoints.pricing == "https://pricing.twilio.com")
        #expect(endpoints.trunking == "https://trunking.twilio.com")
        var simulator = withCredentials
        simulator["NUMBERD_TWILIO_BASE_URL"] = "https://127.0.0.1:8443"
        let local = Numberd.twilioEndpoints(try NumberdConfiguration.resolve(flags: [:], environment: simulator))
        #expect(local.trunking == "https://127.0.0.1:8443/trunking")
    }

    @Test(
        "the timeout is 100...120000 ms",
        arguments: [("99", false), ("100", true), ("120000", true), ("120001", false), ("x", false)])
    func timeoutEdges(text: String, accepted: Bool) {
        var environment = withCredentials
        environment["NUMBERD_TWILIO_TIMEOUT_MS"] = text
        let result = Result { try NumberdConfiguration.resolve(flags: [:], environment: environment) }
        switch result {
        case .success(let configuration):
            #expect(accepted, "\(text) was accepted")
            #expect(configuration.twilioRequestTimeoutMilliseconds == Int(text))
        case .failure:
            #expect(!accepted, "\(text) was refused")
        }
    }

    @Test(
        "the reconcile in-flight horizon is 0...86400 s, default 600",
        arguments: [("-1", false), ("0", true), ("86400", true), ("86401", false), ("soon", false)])
    func horizonEdges(text: String, accepted: Bool) throws {
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: base).reconcileInFlightHorizonSeconds == 600)
        var environment = base
        environment["NUMBERD_RECONCILE_IN_FLIGHT_HORIZON"] = text
        let result = Result { try NumberdConfiguration.resolve(flags: [:], environment: environment) }
        switch result {
        case .success(let configuration):
            #expect(accepted, "\(text) was accepted")
            #expect(configuration.reconcileInFlightHorizonSeconds == Int(text))
        case .failure:
            #expect(!accepted, "\(text) was refused")
        }
    }

    @Test(
        "the orphan watch is 0...2592000 s, default 86400",
        arguments: [("-1", false), ("0", true), ("2592000", true), ("2592001", false), ("a day", false)])
    func orphanWatchEdges(text: String, accepted: Bool) throws {
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: base).orphanWatchSeconds == 86_400)
        var environment = base
        environment["NUMBERD_ORPHAN_WATCH"] = text
        let result = Result { try NumberdConfiguration.resolve(flags: [:], environment: environment) }
        switch result {
        case .success(let configuration):
            #expect(accepted, "\(text) was accepted")
            #expect(configuration.orphanWatchSeconds == Int(text))
        case .failure:
            #expect(!accepted, "\(text) was refused")
        }
    }
}
