import Dispatch
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import TwilioSimulator

/// A request waiting for its journal line's `fdatasync` holds no thread: the engine's callback form returns at once
/// and answers from the journal's sync thread, so the transport's event loop (shared with numberd's connections in
/// the default run) goes on serving while the disk works; one sync covers every line written meanwhile; a failed
/// sync still answers a change 500.
@Suite struct SimulatorSyncWaitTests {
    /// The test's own directory, removed when the test ends.
    private let scratch: ScratchDirectory
    private var directory: String { scratch.path }

    init() throws {
        scratch = try ScratchDirectory(prefix: "sim-syncwait")
    }

    private var configuration: SimulatorConfiguration {
        var configuration = SimulatorConfiguration.defaults
        configuration.stateFile = directory + "/state.json"
        return configuration
    }

    /// `fdatasync` that, while `holding`, signals `entered` and waits for `gate` (a disk that takes its time).
    private final class HeldDisk: Sendable {
        let holding = Mutex(false)
        let failing = Mutex(false)
        let calls = Mutex(0)
        let entered = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)

        var operations: SimulatorFileOperations {
            var operations = SimulatorFileOperations.system
            operations.fdatasync = { descriptor in
                self.calls.withLock { $0 += 1 }
                if self.holding.withLock({ $0 }) {
                    self.entered.signal()
                    self.gate.wait()
                }
                if self.failing.withLock({ $0 }) { return EIO }
                return SimulatorFileOperations.system.fdatasync(descriptor)
            }
            return operations
        }
    }

    /// Answers delivered by the callback form.
    private final class Answers: Sendable {
        let statuses = Mutex<[Int]>([])
        let arrived = DispatchSemaphore(value: 0)

        func done(_ action: TransportAction) {
            var status = 0
            if case .respond(let response) = action { status = response.status }
            statuses.withLock { $0.append(status) }
            arrived.signal()
        }

        var current: [Int] { statuses.withLock { $0 } }
    }

    private static func request(
        _ engine: SimulatorEngine, _ method: String, _ path: String, form: [(String, String)] = []
    ) -> SimulatorRequest {
        let credentials = engine.configuration.credentials
        var headers = [("Authorization", RouterHarness.basic(credentials.accountSid, credentials.authToken))]
        if !form.isEmpty { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        return SimulatorRequest(
            method: method, target: path, headers: headers, body: Array(FormParameters(pairs: form).encoded().utf8))
    }

    private static func api(_ engine: SimulatorEngine) -> String {
        "/2010-04-01/Accounts/\(engine.configuration.credentials.accountSid)"
    }

    /// Sends through the callback form: returns without the answer when it has to wait for the disk.
    private static func send(_ engine: SimulatorEngine, _ request: SimulatorRequest, to answers: Answers) {
        let (endpoint, plan) = engine.plan(for: request)
        engine.execute(request, endpoint: endpoint, plan: plan) { answers.done($0) }
    }

    private static func buyRequest(_ engine: SimulatorEngine, _ number: String) -> SimulatorRequest {
        request(engine, "POST", api(engine) + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", number)])
    }

    @Test func changesWaitingForTheirSyncHoldNoThreadAndShareTheNextSync() throws {
        let disk = HeldDisk()
        let engine = try SimulatorEngine(configuration: configuration, fileOperations: disk.operations)
        let numbers = engine.availableNumbers(country: "US", type: .local, limit: 4).map(\.phoneNumber)
        let answers = Answers()
        disk.holding.withLock { $0 = true }
        Self.send(engine, Self.buyRequest(engine, numbers[0]), to: answers)
        // This thread is free again while the first line's sync is held on the sync thread.
        #expect(disk.entered.wait(timeout: .now() + .seconds(10)) == .success)
        disk.holding.withLock { $0 = false }
        for number in numbers[1...] { Self.send(engine, Self.buyRequest(engine, number), to: answers) }
        Self.send(engine, Self.request(engine, "GET", Self.api(engine) + "/IncomingPhoneNumbers.json"), to: answers)
        #expect(answers.current.isEmpty, "nothing is answered before its line (or what it read) is on disk")
        #expect(disk.calls.withLock { $0 } == 1)
        disk.gate.signal()
        for _ in 0..<5 { #expect(answers.arrived.wait(timeout: .now() + .seconds(10)) == .success) }
        #expect(answers.current.sorted() == [200, 201, 201, 201, 201])
        // The three lines written during the held sync, and the read that saw them, share one more sync.
        #expect(disk.calls.withLock { $0 } == 2)
        let restarted = try SimulatorEngine(configuration: configuration)
        #expect(Set(restarted.ownedNumbers.map(\.number.phoneNumber)) == Set(numbers))
    }

    @Test func aFailedSyncAnswersAWaitingChange500AndRefusesTheNext() throws {
        let disk = HeldDisk()
        let engine = try SimulatorEngine(configuration: configuration, fileOperations: disk.operations)
        let numbers = engine.availableNumbers(country: "US", type: .local, limit: 2).map(\.phoneNumber)
        let answers = Answers()
        disk.failing.withLock { $0 = true }
        Self.send(engine, Self.buyRequest(engine, numbers[0]), to: answers)
        #expect(answers.arrived.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(answers.current == [500], "its line may or may not be on disk: the outcome is uncertain")
        Self.send(engine, Self.buyRequest(engine, numbers[1]), to: answers)
        #expect(answers.arrived.wait(timeout: .now() + .seconds(10)) == .success)
        #expect(answers.current == [500, 500])
        #expect(disk.calls.withLock { $0 } == 1, "a failed fdatasync is never retried")
        #expect(engine.ownedNumbers.map(\.number.phoneNumber) == [numbers[0]], "the refused change did not act")
    }

    /// Waits for `semaphore` on a thread of its own, so the test's task never blocks the cooperative pool.
    private static func wait(for semaphore: DispatchSemaphore, seconds: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: semaphore.wait(timeout: .now() + .seconds(seconds)) == .success)
            }
        }
    }

    @Test func theEventLoopServesOthersWhileAPurchaseWaitsForTheDisk() async throws {
        let disk = HeldDisk()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let simulator = try await TwilioSimulator.start(
            configuration: configuration, eventLoopGroup: group, clock: { Date() }, fileOperations: disk.operations)
        let number = try #require(simulator.engine.availableNumbers(country: "US", type: .local, limit: 1).first)
        disk.holding.withLock { $0 = true }
        let purchase = Task {
            try await simulator.post(
                "\(simulator.api)/IncomingPhoneNumbers.json", [("PhoneNumber", number.phoneNumber)])
        }
        // Bounds for a loaded machine (a full CI run took more than 20 s to reach the disk): the disk holds the sync
        // until the test lets it go, so a loop held by it never runs the task below, however long the wait.
        #expect(await Self.wait(for: disk.entered, seconds: 120))
        // The simulator's only loop thread runs other work while the purchase's line is being synced.
        let ran = DispatchSemaphore(value: 0)
        group.next().execute { ran.signal() }
        let loopFree = await Self.wait(for: ran, seconds: 60)
        disk.holding.withLock { $0 = false }
        disk.gate.signal()
        #expect(loopFree, "the event loop was held while the disk synced")
        let reply = try await purchase.value
        #expect(reply.status == 201)
        try await simulator.shutdown()
        try await group.shutdownGracefully()
    }
}
