import NIOCore

/// A test waited longer than its bound.
struct TestTimeout: Error, CustomStringConvertible {
    var seconds: Int64
    var description: String { "no result within \(seconds) s" }
}

extension EventLoopFuture where Value: Sendable {
    /// The result, or `TestTimeout` after `seconds`: a test fails instead of hanging when a peer misbehaves. Generous,
    /// for a loaded machine: a future that completes returns at once.
    func within(_ seconds: Int64 = 60) async throws -> Value {
        let promise = eventLoop.makePromise(of: Value.self)
        let timer = eventLoop.scheduleTask(in: .seconds(seconds)) {
            promise.fail(TestTimeout(seconds: seconds))
        }
        whenComplete { result in
            timer.cancel()
            // Completing after the timer fired is ignored by NIO: the first result wins.
            promise.completeWith(result)
        }
        return try await promise.futureResult.get()
    }
}
