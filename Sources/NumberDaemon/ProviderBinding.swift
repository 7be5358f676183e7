import Foundation
import Logging
import NumberCore
import TwilioSimulator

/// The provider account a data directory's numbers are owned at, kept in `provider.json` from the first start.
///
/// The store records numbers, and reconciliation, releases and the orphan sweep act on them at the provider; a
/// directory started against another account (Twilio credentials lost from the environment, so numberd falls back to
/// the in-process simulator, or credentials of another account) would look its numbers up where they are not: a
/// release's 404 there reads as "already gone" and refunds while the real number stays paid with no owner, open
/// purchases are voided, and new ones are charged for numbers of the wrong account. So a start whose provider is not
/// the directory's is refused, naming both, unless the operator says the numbers were moved (`--rebind-provider`).
public struct ProviderBinding: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Which kind of provider.
    public enum Kind: String, Codable, Sendable {
        /// Twilio's API (or a `twilio-sim` reached as Twilio, through `NUMBERD_TWILIO_BASE_URL`).
        case twilio
        /// The in-process simulator of the default run.
        case simulator
    }

    /// Which kind of provider.
    public var kind: Kind
    /// The account the numbers are owned at (`AC…`).
    public var accountSid: String

    /// The binding `provider` would make.
    public init(_ provider: NumberdConfiguration.Provider) {
        switch provider {
        case .twilio(let credentials):
            kind = .twilio
            accountSid = credentials.accountSid
        case .simulator(let seed):
            kind = .simulator
            accountSid = SimulatorCredentials.generated(seed: seed).accountSid
        }
    }

    public var description: String {
        switch kind {
        case .twilio: "Twilio account \(accountSid)"
        case .simulator: "the in-process Twilio simulator (account \(accountSid))"
        }
    }

    /// Binds `directory` to this provider at its first start (or when `rebind`), or checks that it is bound to it.
    /// Throws, changing nothing, when the directory is bound to another provider account, or its binding file is
    /// unreadable.
    public func check(_ directory: DataDirectory, rebind: Bool, logger: Logger) throws {
        let path = directory.providerBinding
        if let data = FileManager.default.contents(atPath: path) {
            guard let bound = try? JSONDecoder().decode(ProviderBinding.self, from: data) else {
                throw ConfigurationError(
                    "\(path) is unreadable: it names the provider account this data directory's numbers are owned "
                        + "at; restore it, or start with --rebind-provider to bind the directory to \(self)")
            }
            if bound == self { return }
            guard rebind else {
                throw ConfigurationError(
                    "this data directory's numbers are owned at \(bound), but numberd is configured for \(self); "
                        + "starting would look them up, release and buy at the wrong account. Configure the same "
                        + "provider (for Twilio: TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN, or TWILIO_API_KEY_SID and "
                        + "TWILIO_API_KEY_SECRET), or, only if the numbers were moved there, start once with "
                        + "--rebind-provider")
            }
            logger.warning(
                "data directory bound to another provider account (--rebind-provider)",
                metadata: ["from": "\(bound)", "to": "\(self)"])
        } else {
            logger.info("data directory bound to its provider account", metadata: ["provider": "\(self)"])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try directory.replaceFile(path, with: Array(try encoder.encode(self)) + [UInt8(ascii: "\n")])
    }
}
