import Logging
import ServiceLifecycle

/// Runs `action` every `intervalSeconds` until graceful shutdown, then `final` once (e.g. the last snapshot).
/// Each run is logged with what it did; a failing run is logged and the next one comes on time.
struct PeriodicService: Service {
    let name: String
    let intervalSeconds: Int
    let runAtStart: Bool
    let logger: Logger
    let action: @Sendable () async throws -> Logger.Metadata
    let final: (@Sendable () async throws -> Void)?

    func run() async throws {
        if runAtStart { await tick() }
        // Sleeping is cancelled at graceful shutdown; the final action runs after.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(intervalSeconds))
                await tick()
            }
        }
        if let final {
            do {
                try await final()
                logger.info("final \(name) done")
            } catch {
                logger.error("final \(name) failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func tick() async {
        do {
            let metadata = try await action()
            logger.info("\(name) ran", metadata: metadata)
        } catch {
            logger.error("\(name) failed", metadata: ["error": "\(error)"])
        }
    }
}
