import CurlHTTP
import Foundation
import Logging
import NumberTLS
import Prometheus
import Synchronization
import Testing
import TwilioSimulator

@testable import NumberCore

/// What a test provider did instead of sleeping, the clock its price cache reads, and its metrics.
final class ProviderProbe: Sendable {
    /// Backoff delays the provider asked for, in order.
    let sleeps = Mutex<[Int]>([])
    /// Added to the real monotonic clock (tests move it forward to expire the price cache).
    let clockOffset = Mutex<Duration>(.zero)
    /// Where the provider's metrics go (`numberd_twilio_calls_total`...), instead of the process's global backend.
    let metrics = PrometheusCollectorRegistry()

    var recordedSleeps: [Int] { sleeps.withLock { $0 } }

    /// The sum of the samples of the counter `name` whose labels include each of `labels` (0 when there is none).
    func count(_ name: String, _ labels: [String: String] = [:]) -> Double {
        Self.count(name, labels, in: metrics)
    }

    /// The sum of the samples of the counter `name` in `registry` whose labels include each of `labels`.
    static func count(
        _ name: String, _ labels: [String: String] = [:], in registry: PrometheusCollectorRegistry
    )
        -> Double
    {
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            guard labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
            total += line.split(separator: " ").last.flatMap { Double($0) } ?? 0
        }
        return total
    }

    func advanceClock(by duration: Duration) { clockOffset.withLock { $0 += duration } }

    /// A provider over `configuration` that records backoff instead of sleeping; the jitter draws the upper bound
    /// so the recorded delays are the policy's ceilings.
    func provider(_ configuration: TwilioConfiguration) throws -> TwilioProvider {
        try TwilioProvider(
            configuration: configuration, logger: Logger(label: "test.twilio"),
            sleep: { [self] milliseconds in sleeps.withLock { $0.append(milliseconds) } },
            random: { $0.upperBound },
            monotonicNow: { [self] in ContinuousClock.now + clockOffset.withLock { $0 } },
            metricsFactory: PrometheusMetricsFactory(registry: metrics))
    }
}

/// The Twilio simulator served over real HTTPS (NumberTLS on OpenSSL) on 127.0.0.1:0, a CA file for libcurl,
/// and a ``TwilioProvider`` pointed at it.
final class TwilioSimulatorFixture: Sendable {
    let simulator: TwilioSimulator
    let provider: TwilioProvider
    let probe: ProviderProbe
    let configuration: TwilioConfiguration
    private let directory: URL

    var engine: SimulatorEngine { simulator.engine }

    private init(
        simulator: TwilioSimulator, provider: TwilioProvider, probe: ProviderProbe, configuration: TwilioConfiguration,
        directory: URL
    ) {
        self.simulator = simulator
        self.provider = provider
        self.probe = probe
        self.configuration = configuration
        self.directory = directory
    }

    /// Starts the simulator with TLS (its time from `clock`) and a provider with the `configure`d settings.
    static func start(
        simulatorConfiguration: SimulatorConfiguration = .defaults, clock: @escaping @Sendable () -> Date = { Date() },
        configure: (inout TwilioConfiguration) -> Void = { _ in }
    ) async throws -> TwilioSimulatorFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("twilio-fixture-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            return try await start(
                directory: directory, simulatorConfiguration: simulatorConfiguration, clock: clock,
                configure: configure)
        } catch {
            // No fixture to `stop()`: the directory goes here.
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// The start in `directory` (which `start` removes if this fails).
    private static func start(
        directory: URL, simulatorConfiguration: SimulatorConfiguration, clock: @escaping @Sendable () -> Date,
        configure: (inout TwilioConfiguration) -> Void
    ) async throws -> TwilioSimulatorFixture {
        let authority = try CertificateAuthority.generate(commonName: "Twilio simulator test CA")
        let issued = try authority.issueServerCertificate()
        let caFile = directory.appendingPathComponent("ca.pem").path
        try authority.write(certificateTo: caFile, privateKeyTo: directory.appendingPathComponent("ca.key").path)
        let context = try TLSContext(
            configuration: .server(certificateChain: issued.certificateChain, privateKey: issued.privateKey))
        let tls = SimulatorTLS(caPEMPath: caFile) { channel in
            try channel.pipeline.syncOperations.addTLSServerHandler(context: context)
        }
        let simulator = try await TwilioSimulator.start(configuration: simulatorConfiguration, tls: tls, clock: clock)
        var configuration = TwilioConfiguration(
            credentials: try TwilioCredentials.authToken(
                accountSid: simulator.credentials.accountSid, authToken: simulator.credentials.authToken),
            endpoints: TwilioConfiguration.Endpoints(
                api: simulator.url(for: .api), pricing: simulator.url(for: .pricing),
                trunking: simulator.url(for: .trunking)))
        configuration.http.tls.caFilePath = caFile
        // Past what a loaded full run makes a request wait (a simulator buy, its state synced, once took over 5 s;
        // a TLS connect of a daemon test's helper ran out its 5 s): tests of a timeout set their own, under their stall.
        configuration.http.timeouts.totalMilliseconds = 30_000
        configuration.http.timeouts.connectMilliseconds = 30_000
        configure(&configuration)
        let probe = ProviderProbe()
        return TwilioSimulatorFixture(
            simulator: simulator, provider: try probe.provider(configuration), probe: probe,
            configuration: configuration, directory: directory)
    }

    /// Requests the simulator received for `endpoint`.
    func requests(_ endpoint: Endpoint) -> [RequestLogEntry] {
        engine.requestLog.filter { $0.endpoint == endpoint }
    }

    /// Creates a trunk at the simulator (the adapter does not manage trunks) and returns its SID.
    func createTrunk(_ name: String) async throws -> String {
        var http = HTTPClientConfiguration.defaults
        http.tls.caFilePath = configuration.http.tls.caFilePath
        http.timeouts = configuration.http.timeouts
        let credentials = BasicCredentials(
            username: simulator.credentials.accountSid, password: simulator.credentials.authToken)
        let response = try await withCurlHTTPClient(configuration: http) { client in
            try await client.execute(
                HTTPRequest(
                    method: .post, url: "\(simulator.url(for: .trunking))/v1/Trunks",
                    headers: [HTTPHeader(name: "Content-Type", value: FormURLEncoding.contentType)],
                    body: Array(FormURLEncoding.encode([("FriendlyName", name)]).utf8), basicAuth: credentials))
        }
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        guard response.status == 201, let sid = object?["sid"] as? String else {
            throw FixtureError(description: "trunk creation answered \(response.status)")
        }
        return sid
    }

    func stop() async {
        await provider.shutdown()
        try? await simulator.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body` with a fresh simulator (its time from `clock`) + provider and stops both afterwards.
func withTwilio(
    simulatorConfiguration: SimulatorConfiguration = .defaults, clock: @escaping @Sendable () -> Date = { Date() },
    configure: (inout TwilioConfiguration) -> Void = { _ in },
    _ body: (TwilioSimulatorFixture) async throws -> Void
) async throws {
    let fixture = try await TwilioSimulatorFixture.start(
        simulatorConfiguration: simulatorConfiguration, clock: clock, configure: configure)
    do {
        try await body(fixture)
    } catch {
        await fixture.stop()
        throw error
    }
    await fixture.stop()
}

/// Runs `body` with a ``NumberService`` (in-memory store) over the adapter and a fresh simulator, both on one manual
/// clock (the simulator stamps and times its list lag with it; the adapter's monotonic clock is `probe`'s).
func withServiceOverTwilio(
    simulatorConfiguration: SimulatorConfiguration = .defaults,
    configure: (inout TwilioConfiguration) -> Void = { _ in },
    _ body: (TwilioSimulatorFixture, NumberService, ManualClock, InMemoryNumberStore) async throws -> Void
) async throws {
    let clock = ManualClock(Date(timeIntervalSince1970: 1_736_937_000))  // 2025-01-15T10:30:00Z
    try await withTwilio(
        simulatorConfiguration: simulatorConfiguration, clock: { clock.now() }, configure: configure
    ) { twilio in
        let store = InMemoryNumberStore()
        let service = try await NumberService.open(store: store, provider: twilio.provider, clock: clock)
        try await body(twilio, service, clock, store)
    }
}

/// Runs `operation`, which must throw a ``ProviderError`` of `kind`, and returns it.
@discardableResult
func expectProviderError<T>(
    _ kind: ProviderError.Kind, sourceLocation: SourceLocation = #_sourceLocation,
    _ operation: () async throws -> T
) async -> ProviderError? {
    do {
        _ = try await operation()
        Issue.record("expected \(kind), got a result", sourceLocation: sourceLocation)
    } catch let error as ProviderError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected ProviderError \(kind), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A USD account named `name` with `funds` minor units, for tests that buy over the adapter.
func fundedAccount(_ service: NumberService, name: String, funds: Int64 = 10_000) async throws -> Account {
    let account = try await service.createAccount(name: name, currency: "USD")
    _ = try await service.addFunds(accountId: account.id, amount: funds)
    return account
}

/// The origination SIP URI the trunks tests create are routed to.
let testOriginationSipUri = "sip:pbx.example.com:5060"

extension NumberService {
    /// Creates a trunk numberd makes at the provider (no SID), its calls sent to `origination`.
    func createManagedTrunk(
        accountId: String, name: String, origination: String = testOriginationSipUri
    ) async throws(NumberError) -> NumberCore.Trunk {
        try await createTrunk(accountId: accountId, name: name, providerTrunkSid: "", originationSipUri: origination)
    }
}
