import Foundation
import Logging
import Synchronization
import Testing

@testable import NumberDaemon

extension HangUpSignalTests {
    /// SIGHUPs sent while a reload waits for Twilio used to queue a whole reload each, without bound.
    @Suite("SIGHUP: signals during a reload", .serialized)
    struct HangUpCoalescingTests {
        @Test("many SIGHUPs while a reload waits for Twilio make one more reload after it, not one each")
        func signalsDuringAReloadCoalesce() async throws {
            let reloads = Mutex(0)
            let twilio = Mutex<CheckedContinuation<Void, Never>?>(nil)
            let service = HangUpReload(
                reloadSettings: { reloads.withLock { $0 += 1 } },
                checkCertificates: { [:] },
                reloadTwilioCredentials: {
                    // The first reload's Twilio check hangs until the test lets it go; later ones answer at once.
                    guard reloads.withLock({ $0 }) == 1 else { return }
                    await withCheckedContinuation { continuation in twilio.withLock { $0 = continuation } }
                },
                logger: Logger(label: "hup", factory: { _ in SwiftLogNoOpLogHandler() }))
            let running = Task { try await service.run() }
            defer { running.cancel() }
            guard
                try await HangUpSignalTests.hangUp(until: { twilio.withLock { $0 != nil } })
            else {
                Issue.record("the first SIGHUP did not start a reload")
                return
            }
            for _ in 0..<20 {
                kill(getpid(), SIGHUP)
                try await Task.sleep(for: .milliseconds(10))
            }
            // Every signal reached the trap while the first reload waited: nothing says when they have, and one a
            // starved process delivers after the next reload began makes a third (300 ms were once too little).
            try await Task.sleep(for: .seconds(20))
            #expect(reloads.withLock { $0 } == 1)
            twilio.withLock { $0?.resume() }
            let deadline = ContinuousClock.now + .seconds(60)
            while reloads.withLock({ $0 }) < 2, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(reloads.withLock { $0 } == 2, "one reload after the first, for all the signals sent during it")
        }

        /// The reload read its files on the cooperative pool: one on a stalled mount held a thread the RPCs need, and
        /// the shutdown waited for it.
        @Test("a certificate check stuck on its files runs off the pool, and the shutdown does not wait for it")
        func stuckCheckDoesNotHoldTheShutdown() async throws {
            let stuck = DispatchSemaphore(value: 0)
            let checking = Atomic(false)
            let offThePool = Atomic(false)
            let service = HangUpReload(
                reloadSettings: {},
                checkCertificates: {
                    offThePool.store(FileWork.Lane.certificates.isCurrent, ordering: .relaxed)
                    checking.store(true, ordering: .relaxed)
                    stuck.wait()
                    return [:]
                },
                reloadTwilioCredentials: {},
                logger: Logger(label: "hup", factory: { _ in SwiftLogNoOpLogHandler() }))
            let ended = Atomic(false)
            let running = Task {
                defer { ended.store(true, ordering: .relaxed) }
                try await service.run()
            }
            defer { stuck.signal() }
            guard try await HangUpSignalTests.hangUp(until: { checking.load(ordering: .relaxed) }) else {
                running.cancel()
                Issue.record("the SIGHUP did not start a reload")
                return
            }
            let ranOffThePool = offThePool.load(ordering: .relaxed)
            #expect(ranOffThePool, "the check ran on the certificates' lane")
            running.cancel()
            let deadline = ContinuousClock.now + .seconds(60)
            while !ended.load(ordering: .relaxed) {
                try #require(ContinuousClock.now < deadline, "the service waited for the stuck check")
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }
}
