import Foundation
import Logging
import NumberCore
import Synchronization

/// SIGHUP's reload of the Twilio secret. Operators rotate it — a new auth token (Twilio's secondary token, promoted
/// once everything uses it) and expect `systemctl reload numberd` to take it without a restart that drops calls. (An
/// API key is replaced, not rotated: a new secret comes with a new SID, read at start.)
///
/// A secret given by file (`<VAR>_FILE`) or systemd credential is read again with the checks of the start
/// (``TwilioSecrets``: mode, one way only). When it changed, one cheap authenticated request checks it at Twilio
/// (``TwilioProvider/rotateCredentials(to:)``), and only when Twilio accepts it do later requests send it (requests
/// in flight keep theirs, through their retries: the notice names the seconds until none can send the old secret,
/// ``NumberCore/TwilioConfiguration/requestMillisecondsMax``). Refused by Twilio, Twilio out of reach, a file that
/// fails its checks or another account SID: the old credentials stay, with an error in the log saying why. A secret
/// given as a plain variable cannot change (said once, at notice). The log never shows the secret.
package final class TwilioCredentialReload: Sendable {
    /// What a reload did: `numberd_twilio_credentials_reloads_total{outcome}`.
    package enum Outcome: String, Sendable, CaseIterable {
        /// Twilio accepted the new secret; later requests send it.
        case rotated
        /// The secret read is the one in use.
        case unchanged
        /// The secret is a plain variable (or came through a pipe): it cannot change while numberd runs.
        case variable
        /// The secret is an API key's, which never changes at Twilio (a new secret is a new key).
        case apiKey = "api_key"
        /// Twilio refused the new secret (401/20003): the old one stays.
        case refused
        /// Twilio could not be asked (or answered oddly): the old secret stays.
        case unreachable
        /// The secret could not be read or is malformed (mode, missing, given two ways...): the old one stays.
        case invalid
        /// The credentials name another account: the old ones stay.
        case accountChanged = "account_changed"
        /// A shutdown ended the reload while its secret file was read (a stalled mount) or Twilio was asked: the old
        /// one stays.
        case interrupted
    }

    let provider: TwilioProvider
    /// The start's environment for the Twilio credentials (``NumberdConfiguration/twilioCredentialEnvironment``).
    let environment: [String: String]
    /// Where each secret came from (``NumberdConfiguration/twilioSecretSources``).
    let sources: [String]
    let gauges: OperationalGauges
    let logger: Logger
    /// Whether the notice that the secret cannot change was logged.
    private let toldVariable = Mutex(false)

    init(
        provider: TwilioProvider, environment: [String: String], sources: [String], gauges: OperationalGauges,
        logger: Logger
    ) {
        self.provider = provider
        self.environment = environment
        self.sources = sources
        self.gauges = gauges
        self.logger = logger
    }

    /// A secret that cannot change while numberd runs: said once, at notice.
    private func cannotChange(_ why: String, _ outcome: Outcome) -> Outcome {
        let first = toldVariable.withLock { told in
            defer { told = true }
            return !told
        }
        if first {
            logger.notice(
                Logger.Message(stringLiteral: "SIGHUP: " + why),
                metadata: ["secret_from": "\(sources.joined(separator: ","))"])
        }
        return outcome
    }

    /// A reload a shutdown ended, its secret file still being read or its check at Twilio still running: not a
    /// failure (no error to page on), and the old secret stays in use.
    private func interrupted() -> Outcome {
        logger.info("SIGHUP: the Twilio secret's reload was ended by the shutdown; the old secret stays in use")
        return .interrupted
    }

    /// Reads the secret again and rotates to it when Twilio accepts it; `environment` replaces the start's (tests).
    func reload(environment override: [String: String]? = nil) async -> Outcome {
        let outcome = await attempt(override ?? environment)
        gauges.recordCredentialReload(outcome)
        return outcome
    }

    private func attempt(_ environment: [String: String]) async -> Outcome {
        let fromFiles = sources.filter { $0.hasSuffix("_FILE") || $0.hasPrefix("$CREDENTIALS_DIRECTORY/") }
        // An API key's secret never changes at Twilio: a new secret is a new key, with a new SID (a plain variable).
        if provider.credentials.username != provider.credentials.accountSid {
            return cannotChange(
                "the Twilio API key's secret cannot change without its SID (TWILIO_API_KEY_SID, read at start): "
                    + "restart numberd with the new key", .apiKey)
        }
        guard !fromFiles.isEmpty else {
            return cannotChange(
                "the Twilio secret is given as a variable, which cannot change while numberd runs: give it as "
                    + "<VARIABLE>_FILE or a systemd credential to rotate it with a reload", .variable)
        }
        // Read again only from a regular file: a pipe (`<(pass show twilio)`) is empty once read, and opening a named
        // FIFO would wait for a writer for ever (SIGHUP, then the shutdown, stuck behind it). This check names a pipe
        // given at start; the read below checks what it opened again (`regularOnly`), so a FIFO swapped in after it is
        // refused at once, not waited on. Both off the cooperative pool (``FileWork``: a secret store's mount may
        // stall: the secrets' lane); a shutdown meanwhile ends the reload (`interrupted`), the old secret in use.
        let notRegular: String?
        do {
            notRegular = try await FileWork.Lane.secrets.run {
                fromFiles.first { source in
                    var status = stat()
                    guard source.hasSuffix("_FILE") else { return false }
                    guard let path = environment[source], stat(path, &status) == 0 else { return true }
                    return status.st_mode & S_IFMT != S_IFREG
                }
            }
        } catch {
            return interrupted()  // nothing else throws
        }
        if let source = notRegular {
            return cannotChange(
                "the Twilio secret is given through \(source), which is not a regular file (a pipe is read once): "
                    + "give it as a file to rotate it with a reload", .variable)
        }
        let candidate: TwilioCredentials
        do {
            candidate = try await FileWork.Lane.secrets.run {
                let resolved = try TwilioSecrets.resolve(environment, regularOnly: true)
                guard let credentials = try TwilioCredentials.fromEnvironment(resolved.environment) else {
                    throw ConfigurationError("no Twilio credentials are configured any more")
                }
                return credentials
            }
        } catch is CancellationError {
            return interrupted()
        } catch {
            logger.error(
                "SIGHUP: Twilio credentials not reloaded, the old ones stay in use: the secret cannot be read",
                metadata: ["error": "\(error)"])
            return .invalid
        }
        let metadata: Logger.Metadata = [
            "account": "\(candidate.accountSid)", "username": "\(candidate.username)",
            "secret_from": "\(fromFiles.joined(separator: ","))",
        ]
        let current = provider.credentials
        guard candidate.accountSid == current.accountSid else {
            logger.error(
                Logger.Message(
                    stringLiteral:
                        "SIGHUP: Twilio credentials not reloaded, the old ones stay in use: the account SID may not "
                        + "change on reload (it names the account this data directory's numbers are owned at; restart "
                        + "numberd, with --rebind-provider only if the numbers were moved)"),
                metadata: metadata.merging(["was": "\(current.accountSid)"]) { $1 })
            return .accountChanged
        }
        do {
            switch try await provider.rotateCredentials(to: candidate) {
            case .unchanged:
                logger.notice("SIGHUP: the Twilio secret is unchanged", metadata: metadata)
                return .unchanged
            case .rotated:
                // Requests that read the old secret send it through their retries: Twilio's old token must keep
                // working until the longest of them has ended, so the notice says when the new one may be promoted.
                let seconds = (provider.configuration.requestMillisecondsMax + 999) / 1_000
                logger.notice(
                    """
                    SIGHUP: Twilio accepted the new secret; later requests use it; promote it at Twilio (retiring \
                    the old one) once promote_after_seconds have passed, when no retry can send the old one
                    """,
                    metadata: metadata.merging(["promote_after_seconds": "\(seconds)"]) { $1 })
                return .rotated
            }
        } catch let error where error.cancelled {
            return interrupted()  // the old secret stays: it is replaced only once Twilio's answer is read
        } catch {
            let refused = error.kind == .authentication
            let why = refused ? "Twilio refused the new secret" : "the new secret could not be checked with Twilio"
            logger.error(
                "SIGHUP: Twilio credentials not reloaded, the old ones stay in use: \(why)",
                metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return refused ? .refused : .unreachable
        }
    }
}
