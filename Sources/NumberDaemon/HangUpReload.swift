import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP reads the config file again (``SettingsReload``: the log level, the rate limit and the purchase cap take a
/// changed value), checks the TLS certificate files at once — an operator's replaced `--tls-cert`/`--tls-key` (or a
/// generated certificate due for renewal) is served to new connections now, not at the next hourly check — then reads
/// a Twilio secret given by file or systemd credential again (``TwilioCredentialReload``: used once Twilio accepts it),
/// and logs what it did. Everything else (the other limits, the account SID, listeners, intervals) is read at start:
/// change it with a restart, which SIGTERM makes graceful. Without a handler SIGHUP's default action ended numberd at
/// once, with no drain and no final snapshot, and tools send it expecting a reload (logrotate, `systemctl reload`, a
/// closed terminal).
struct HangUpReload: Service, CustomStringConvertible {
    /// ``SettingsReload/reload()``: first, so that a level turned to debug already shows the rest of the reload.
    let reloadSettings: @Sendable () -> Void
    /// The certificate check the periodic service runs too (``ServerCertificates/check(nowSeconds:)`` and its gauge).
    let checkCertificates: @Sendable () throws -> Logger.Metadata
    /// ``TwilioCredentialReload/reload(environment:)`` (nothing with the in-process simulator); logs what it did.
    let reloadTwilioCredentials: @Sendable () async -> Void
    let logger: Logger
    /// SIGHUP as the start trapped it (``HangUpSignals``), so signals sent during the start are carried out; nil: the
    /// service traps it when it runs.
    var trapped: HangUpSignals? = nil

    /// How the service lifecycle's log lines name it.
    var description: String { "HangUpReload" }

    /// SIGHUPs that arrive while a reload runs (its Twilio check can take a request timeout) make one more reload
    /// after it, however many they are: each used to queue a whole reload of its own, without bound. So do those the
    /// start's trap holds.
    func run() async throws {
        let signals: UnixSignalsSequence
        if let trapped {
            signals = trapped.sequence
        } else {
            signals = await UnixSignalsSequence(trapping: .sighup)
        }
        let (due, request) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in signals { request.yield() }
                    request.finish()
                }
                group.addTask { await reload(when: due) }
            }
        }
    }

    /// One reload for each request `due` holds (at most one waits while a reload runs). Its file reads run on
    /// ``FileWork``'s lanes: a config or certificate file on a stalled mount holds its lane, not a thread of the pool
    /// that serves the RPCs, and not the shutdown, which stops waiting for it.
    private func reload(when due: AsyncStream<Void>) async {
        for await _ in due {
            // A request still buffered when shutdown cancelled the service is not carried out.
            if Task.isCancelled { break }
            do {
                try await FileWork.Lane.configuration.run(reloadSettings)
            } catch {
                break  // cancelled: nothing else throws
            }
            do {
                let metadata = try await FileWork.Lane.certificates.run(checkCertificates)
                logger.notice("SIGHUP: TLS certificate files checked", metadata: metadata)
            } catch is CancellationError {
                break
            } catch {
                logger.error("SIGHUP: TLS certificate check failed", metadata: ["error": "\(error)"])
            }
            await reloadTwilioCredentials()
        }
    }
}
