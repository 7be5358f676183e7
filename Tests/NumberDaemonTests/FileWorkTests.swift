import Dispatch
import Synchronization
import Testing

@testable import NumberDaemon

/// A reload's file reads (config, certificates, a Twilio secret file) ran on the cooperative pool: a file on a stalled
/// mount held one of its threads (one per core) and the shutdown behind it. Each test blocks a lane of its own.
@Suite("FileWork: file reads off the cooperative pool, which a cancelled caller stops waiting for")
struct FileWorkTests {
    struct Refused: Error, Equatable {}

    /// What ran, in order.
    final class Order: Sendable {
        private let entries = Mutex<[String]>([])
        func append(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    /// Holds `lane` until the returned semaphore is signalled, once the lane runs the hold.
    static func hold(_ lane: FileWork.Lane) async throws -> DispatchSemaphore {
        let held = DispatchSemaphore(value: 0)
        let holding = Atomic(false)
        lane.queue.async {
            holding.store(true, ordering: .relaxed)
            held.wait()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !holding.load(ordering: .relaxed) {
            try #require(ContinuousClock.now < deadline, "the lane never ran")
            try await Task.sleep(for: .milliseconds(5))
        }
        return held
    }

    @Test("the work runs on its lane and gives back its result or its error")
    func resultAndError() async throws {
        let lane = FileWork.Lane("test.file-work.result")
        #expect(!lane.isCurrent)
        #expect(try await lane.run { lane.isCurrent && !FileWork.Lane.clock.isCurrent })
        await #expect(throws: Refused()) { try await lane.run { () throws -> Int in throw Refused() } }
    }

    @Test("a caller cancelled while the work blocks stops waiting at once; the work queued next waits for it")
    func cancelledCallerStopsWaiting() async throws {
        let lane = FileWork.Lane("test.file-work.cancelled")
        let held = try await Self.hold(lane)
        defer { held.signal() }  // a regression then fails the test instead of hanging it
        let abandoned = Mutex<Result<Int, any Error>?>(nil)
        let caller = Task {
            try await lane.run({ 1 }, abandoned: { result in abandoned.withLock { $0 = result } })
        }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        // Still held: the next work waits behind it, and runs once it ends; the abandoned work's result is handed on.
        let next = Task { try await lane.run { 2 } }
        held.signal()
        #expect(try await next.value == 2)
        #expect(try abandoned.withLock { try $0?.get() } == 1)
    }

    @Test("a caller cancelled before its work ran gets CancellationError, not the work's result")
    func cancelledBeforeRunning() async throws {
        let lane = FileWork.Lane("test.file-work.early")
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await lane.run { 3 }
        }
        await #expect(throws: CancellationError.self) { try await caller.value }
    }

    /// The final clock mark ran at once on the pool while a mark a stop had stopped waiting for still ran on the
    /// queue: both write the same staging files, so one could remove the other's, or an older time land last.
    @Test("the last work of a stop runs after the work a cancelled caller left running, not beside it")
    func runToEndWaitsForAbandonedWork() async throws {
        let lane = FileWork.Lane("test.file-work.to-end")
        let held = try await Self.hold(lane)
        defer { held.signal() }
        let order = Order()
        let tick = Task { try await lane.run { order.append("tick") } }
        tick.cancel()
        await #expect(throws: CancellationError.self) { try await tick.value }
        // The final work, its caller cancelled too (a stop that cancels its services' tasks): it is still done.
        let final = Task {
            try await lane.runToEnd { order.append("final") }
        }
        final.cancel()
        try await Task.sleep(for: .milliseconds(50))
        #expect(order.all.isEmpty, "the final work waits for the lane")
        held.signal()
        try await final.value
        #expect(order.all == ["tick", "final"])
    }
}
