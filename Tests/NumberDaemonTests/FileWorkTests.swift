import Dispatch
import Synchronization
import Testing

@testable import NumberDaemon

/// A reload's file reads (config, certificates, a Twilio secret file) ran on the cooperative pool: a file on a stalled
/// mount held one of its threads (one per core) and the shutdown behind it.
@Suite("FileWork: file reads off the cooperative pool, which a cancelled caller stops waiting for")
struct FileWorkTests {
    struct Refused: Error, Equatable {}

    @Test("the work runs on its queue and gives back its result or its error")
    func resultAndError() async throws {
        #expect(!FileWork.isCurrent)
        #expect(try await FileWork.run { FileWork.isCurrent })
        await #expect(throws: Refused()) { try await FileWork.run { () throws -> Int in throw Refused() } }
    }

    @Test("a caller cancelled while the work blocks stops waiting at once; the work queued next waits for it")
    func cancelledCallerStopsWaiting() async throws {
        let blocked = DispatchSemaphore(value: 0)
        let started = Atomic(false)
        let caller = Task {
            try await FileWork.run { () -> Int in
                started.store(true, ordering: .relaxed)
                blocked.wait()
                return 1
            }
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while !started.load(ordering: .relaxed) {
            try #require(ContinuousClock.now < deadline, "the work never started")
            try await Task.sleep(for: .milliseconds(5))
        }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        // Still blocked: the next work waits behind it, and runs once it ends.
        let next = Task { try await FileWork.run { 2 } }
        blocked.signal()
        #expect(try await next.value == 2)
    }

    @Test("a caller cancelled before its work ran gets CancellationError, not the work's result")
    func cancelledBeforeRunning() async throws {
        let caller = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await FileWork.run { 3 }
        }
        await #expect(throws: CancellationError.self) { try await caller.value }
    }
}
