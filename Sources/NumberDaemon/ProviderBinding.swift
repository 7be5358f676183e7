import Foundation
import Logging
import NumberAPI
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

    /// Binds `directory` to this provider, or checks that it is bound to it. The binding only matters while the
    /// state holds something that exists at the provider (`holdsProviderResources`: numbers, trunks, purchases in
    /// progress, watched numbers); until then a directory moves to the configured account without a word (a first
    /// start with a mistyped account needs no `--rebind-provider`). Throws, changing nothing, when the directory holds
    /// such things and is bound to another account (or its binding is unreadable); a directory from before
    /// `provider.json` is bound at its first start unless what it holds was plainly bought elsewhere: through the
    /// in-process simulator (its `twilio-sim.json` is there) while Twilio is configured, or the other way round.
    ///
    /// Only a directory that is `legacy` (``markLegacy(_:)``: its store had no `FORMAT` when a start first found it
    /// without the file) can be from before `provider.json`: `FORMAT` came later, and every numberd that writes it
    /// keeps the binding. With the file missing from a directory that is not, the binding was lost (deleted, not
    /// restored with the store), and binding such a directory to whatever account is configured would act on its
    /// numbers at that account: refused, naming `--rebind-provider`. Once `provider.json` names the account, the
    /// directory is no longer `legacy` (its marker is removed).
    public func check(
        _ directory: DataDirectory, holdsProviderResources: Bool, legacy: Bool, rebind: Bool, logger: Logger
    ) throws {
        try checkOrBind(
            directory, holdsProviderResources: holdsProviderResources, legacy: legacy, rebind: rebind, logger: logger)
        // provider.json names the account now: from here on a missing one was lost, whatever the store was. A marker
        // left behind only weakens that test, so it does not refuse the start; the next start removes it again.
        let marker = directory.legacyBindingMarker
        guard FileManager.default.fileExists(atPath: marker) else { return }
        do {
            try FileManager.default.removeItem(atPath: marker)
        } catch {
            logger.warning(
                "the legacy provider marker could not be removed", metadata: ["path": "\(marker)", "error": "\(error)"])
        }
    }

    /// Whether a missing `provider.json` may be from before the file, decided before the store is opened: opening
    /// writes `FORMAT` into a store that has none, and `provider.json` is written only later, so a start refused in
    /// between (this binding's check, the invariants, the clock) left a store that read as one whose binding was
    /// lost, and the corrected start was refused, pointed at `--rebind-provider`, which skips the check that tells a
    /// simulator's directory from a Twilio one. So a directory without `provider.json` whose store has no `FORMAT` gets
    /// ``DataDirectory/legacyBindingMarker`` first (synced), which keeps the answer until
    /// ``check(_:holdsProviderResources:legacy:rebind:logger:)`` has written the binding; `numberd restore` writes it
    /// too when neither the backup nor the directory has `provider.json` and the backup carries the marker, and
    /// removes the directory's own when the backup does not (the marker spoke of the store it replaced). A `FORMAT`
    /// that cannot be read is not legacy: the open refuses that store.
    public static func markLegacy(_ directory: DataDirectory) throws -> Bool {
        if FileManager.default.fileExists(atPath: directory.legacyBindingMarker) { return true }
        if FileManager.default.fileExists(atPath: directory.providerBinding) { return false }
        do {
            let format = try FileNumberStore.recordedFormat(directory: URL(fileURLWithPath: directory.store))
            guard format == nil else { return false }
        } catch {
            return false
        }
        try directory.markBindingLegacy()
        return true
    }

    /// ``check(_:holdsProviderResources:legacy:rebind:logger:)`` up to the binding written (or found in place).
    private func checkOrBind(
        _ directory: DataDirectory, holdsProviderResources: Bool, legacy: Bool, rebind: Bool, logger: Logger
    ) throws {
        let path = directory.providerBinding
        let guarded = holdsProviderResources && !rebind
        // A file that exists but cannot be read (EACCES, EIO) is unreadable, not missing: taken for missing, it would
        // be bound afresh to whatever account is configured.
        if FileManager.default.fileExists(atPath: path) {
            let bound = (try? readBoundedFile(path, bytesMax: DataDirectory.providerBindingBytesMax)).flatMap {
                try? JSONDecoder().decode(ProviderBinding.self, from: Data($0))
            }
            if bound == self { return }
            guard let bound else {
                guard !guarded else {
                    throw ConfigurationError(
                        "\(path) is unreadable: it names the provider account this data directory's numbers are owned "
                            + "at; restore it, or start with --rebind-provider to bind the directory to \(self)")
                }
                return try write(directory, logger, .info, "provider binding rewritten", ["was": "unreadable"])
            }
            guard !guarded else {
                // Both the in-process simulator: another --simulator-seed (an operator's walk was pointed at Twilio's
                // credentials and at --rebind-provider, which would strand the numbers at an account no one serves).
                if bound.kind == .simulator, kind == .simulator {
                    throw ConfigurationError(
                        "this data directory's numbers are owned at \(bound), but this start's simulator seed "
                            + "(--simulator-seed, NUMBERD_SIMULATOR_SEED or the config file; 1 without) makes \(self): "
                            + "the simulator's account follows its seed. Start with the seed the directory was "
                            + "started with, or use another --data-dir for this seed")
                }
                throw ConfigurationError(
                    "this data directory's numbers are owned at \(bound), but numberd is configured for \(self); "
                        + "starting would look them up, release and buy at the wrong account. Configure the same "
                        + "provider (for Twilio: TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN, or TWILIO_API_KEY_SID and "
                        + "TWILIO_API_KEY_SECRET), or, only if the numbers were moved there, start once with "
                        + "--rebind-provider")
            }
            return try write(
                directory, logger, holdsProviderResources ? .warning : .info,
                "data directory bound to another provider account", ["was": "\(bound)"])
        }
        if guarded {
            guard legacy else {
                throw ConfigurationError(
                    "\(path) is missing, but this data directory holds numbers or trunks and its store was written "
                        + "by a numberd that keeps that file (store/FORMAT is there): the record of the provider "
                        + "account its numbers are owned at was lost. Restore it (a backup holds it beside store/), "
                        + "or, only if they are owned at \(self), start once with --rebind-provider")
            }
            // Written by a numberd from before provider.json: the simulator's state file tells where it bought.
            let simulatorUsed = FileManager.default.fileExists(atPath: directory.simulatorState)
            if simulatorUsed != (kind == .simulator) {
                let elsewhere = simulatorUsed ? "the in-process Twilio simulator (twilio-sim.json)" : "Twilio"
                throw ConfigurationError(
                    "this data directory holds numbers or trunks bought through \(elsewhere), but numberd is "
                        + "configured for \(self); configure the provider it was run with, or, only if the numbers "
                        + "were moved there, start once with --rebind-provider")
            }
        }
        try write(directory, logger, .info, "data directory bound to its provider account", [:])
    }

    private func write(
        _ directory: DataDirectory, _ logger: Logger, _ level: Logger.Level, _ message: Logger.Message,
        _ metadata: Logger.Metadata
    ) throws {
        logger.log(level: level, message, metadata: metadata.merging(["provider": "\(self)"]) { $1 })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try directory.replaceFile(
            directory.providerBinding, with: String(decoding: try encoder.encode(self), as: UTF8.self) + "\n")
    }
}
