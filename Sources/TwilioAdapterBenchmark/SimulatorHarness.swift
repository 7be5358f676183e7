import Foundation
import Synchronization
import TwilioSimulator

/// The Twilio simulator over HTTPS (a generated local CA) on 127.0.0.1:0, counting the TLS connections it accepts
/// so the benchmark sees how many requests reused one. Kept apart from NumberCore's same-named types.
final class SimulatorHarness: Sendable {
    let simulator: TwilioSimulator
    let caPEMPath: String
    private let counter: ConnectionCounter

    private init(simulator: TwilioSimulator, caPEMPath: String, counter: ConnectionCounter) {
        self.simulator = simulator
        self.caPEMPath = caPEMPath
        self.counter = counter
    }

    /// Starts the simulator, its CA written to `directory`, with a request log of up to `requestLogEntriesMax`.
    static func start(directory: URL, requestLogEntriesMax: Int) async throws -> SimulatorHarness {
        let generated = try SimulatorTLS.generated(directory: directory.path)
        guard let caPEMPath = generated.caPEMPath else { throw BenchmarkError("the generated TLS has no CA file") }
        let counter = ConnectionCounter()
        // Called once per accepted connection, before its TLS handler is added.
        let counting = SimulatorTLS(caPEMPath: caPEMPath) { channel in
            counter.increment()
            try generated.addHandlers(channel)
        }
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.requestLogEntriesMax = requestLogEntriesMax
        let simulator = try await TwilioSimulator.start(configuration: configuration, tls: counting)
        return SimulatorHarness(simulator: simulator, caPEMPath: caPEMPath, counter: counter)
    }

    /// Connections accepted so far.
    var acceptedConnections: Int { counter.count }

    var baseURL: String { simulator.baseURL }
    var accountSid: String { simulator.credentials.accountSid }
    var authToken: String { simulator.credentials.authToken }

    /// Requests the simulator logged since the last `clearRequestLog`.
    var loggedRequests: Int { simulator.engine.requestLog.count }

    func clearRequestLog() { simulator.engine.clearRequestLog() }

    /// Numbers the simulator's account owns.
    var ownedCount: Int { simulator.engine.ownedNumbers.count }

    /// The first `count` unowned US local numbers.
    func availableUSLocal(_ count: Int) -> [String] {
        simulator.engine.availableNumbers(country: "US", type: .local, limit: count).map(\.phoneNumber)
    }

    func shutdown() async {
        try? await simulator.shutdown()
    }
}

/// Counts accepted connections.
private final class ConnectionCounter: Sendable {
    private let accepted = Atomic<Int>(0)

    func increment() { accepted.add(1, ordering: .relaxed) }

    var count: Int { accepted.load(ordering: .relaxed) }
}
