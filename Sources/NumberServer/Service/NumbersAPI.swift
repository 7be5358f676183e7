import Foundation
import Logging
import NumberAPI
import NumberCore

/// The numbers.v1.Numbers service: every RPC of the `.proto` mapped to the core, behind authentication (API keys
/// in `authorization` metadata), per-call authorization and rate limits.
///
/// ```swift
/// var router = RPCRouter(errorMapper: RPCError.mapping)
/// NumbersAPI(service: service, rateLimiter: RateLimiter(limits: .defaults)).register(into: &router)
/// ```
public struct NumbersAPI: Sendable {
    let service: NumberService
    let rateLimiter: RateLimiter
    /// Reported by HealthCheck.
    let version: String
    /// False while the server drains: HealthCheck says NOT_SERVING (as it does once the store stopped writes).
    let isServing: @Sendable () -> Bool
    /// Writes a backup of the store (CreateBackup); nil when the store keeps nothing on disk.
    let backup: (@Sendable () async throws -> FileNumberStore.Backup)?
    /// Starts a provider audit in the background (RunProviderAudit): the seconds between its two listings and when it
    /// started (numberd's clock), or nil when one is running. Nil when this server cannot run audits.
    let runProviderAudit: (@Sendable () -> (recheckSeconds: Int64, startedAt: Date)?)?

    /// Creates the service.
    public init(
        service: NumberService, rateLimiter: RateLimiter, version: String = NumberdVersion.current,
        isServing: @escaping @Sendable () -> Bool = { true },
        backup: (@Sendable () async throws -> FileNumberStore.Backup)? = nil,
        runProviderAudit: (@Sendable () -> (recheckSeconds: Int64, startedAt: Date)?)? = nil
    ) {
        self.service = service
        self.rateLimiter = rateLimiter
        self.version = version
        self.isServing = isServing
        self.backup = backup
        self.runProviderAudit = runProviderAudit
    }

    /// What a method needs from its caller.
    enum Access: Hashable {
        /// No key (HealthCheck).
        case open
        /// Read the named account.
        case read
        /// Change the named account.
        case write
        /// An admin key.
        case admin
    }

    /// Registers every method on `router`. Reads of the in-memory state (balance, lists, one number, accounts,
    /// keys, health) are synchronous and run inline on the connection's event loop; everything that commits to the
    /// store or calls the provider runs as a task.
    public func register(into router: inout RPCRouter) {
        router.errorMapper = { error, context in RPCError.mapping(error, context: context) }
        registerNumbers(into: &router)
        registerLedger(into: &router)
        registerAdministration(into: &router)
        // Open to anyone, so it proves nothing about its caller: it renews no connection budget (FRAMING.md §7).
        router.registerSynchronous(NumbersMethods.healthCheck) { _, _ in
            // NOT_SERVING while draining, and once the store has stopped taking writes (a failed commit: only a
            // restart, which recovers from the journal, writes again), so a supervisor's health probe restarts it.
            HealthCheckResponse(
                status: isServing() && service.storeFailure == nil ? .serving : .notServing, version: version)
        }
    }

    /// The caller after authentication and authorization.
    struct Caller {
        /// The caller's key.
        var key: NumberCore.ApiKey
        /// The account the call acts on: the request's `account_id`, or the key's own account when that is empty.
        var accountId: String
        /// Numbers taken from the purchase cap for this call (0 for a retry of a known purchase key).
        var purchasesCharged = 0

        /// Gives the call's share of the purchase cap back (a purchase refused or replayed bought nothing new).
        func refundPurchases(_ limiter: RateLimiter) {
            guard purchasesCharged > 0 else { return }
            limiter.refund(accountId, numbers: purchasesCharged)
        }
    }

    /// Authenticates the caller, applies the rate limit and checks `access` to the request's `account_id` (empty =
    /// the key's own account). A purchase's numbers are charged to the purchase cap separately, once the
    /// request has passed its checks (``chargePurchases(_:_:asRetry:)``).
    @discardableResult
    func authorize(_ context: CallContext, _ access: Access, accountId requested: String?) throws -> Caller {
        guard let header = context.metadata["authorization"], header.hasPrefix("Bearer "), header.utf8.count > 7 else {
            throw RPCError(
                code: .unauthenticated, message: "an API key is required: authorization: Bearer nk_…",
                reason: "MISSING_CREDENTIALS")
        }
        let key: NumberCore.ApiKey
        if let keyId = context.connection.keyId(forAuthorization: header), let known = service.activeApiKey(id: keyId) {
            // This connection already proved this exact header; the key is re-read, so revocation still applies.
            key = known
        } else {
            do {
                key = try service.authenticate(secret: String(header.dropFirst(7)))
            } catch {
                throw RPCError(
                    code: .unauthenticated, message: "the API key is not valid", reason: "INVALID_CREDENTIALS")
            }
            context.connection.remember(authorization: header, keyId: key.id)
        }
        // The caller is known: this call may renew the connection's flood budgets and resets its count of failed
        // authentications, whatever it is refused for below.
        context.markAuthenticated()
        // Charged as soon as the caller is known: a call the key may not make costs it a call too, or a valid key
        // could send denied calls without limit.
        try rateLimiter.admit(key.accountId ?? key.id)
        let accountId = requested.flatMap { $0.isEmpty ? nil : $0 } ?? key.accountId ?? ""
        switch access {
        case .open:
            break
        case .admin:
            guard key.scope == .admin else {
                throw RPCError(code: .permissionDenied, message: "this call needs an admin key", reason: "SCOPE_DENIED")
            }
        case .read, .write:
            guard !accountId.isEmpty else {
                throw RPCError(
                    code: .invalidArgument, message: "account_id is required with an admin key",
                    reason: "INVALID_FIELD",
                    details: ["field": "account_id"])
            }
            try service.authorize(key, accountId: accountId, write: access == .write)
        }
        return Caller(key: key, accountId: accountId)
    }

    /// Logs an administrative change at notice: what changed and who made it — the key's id, the peer's address and,
    /// under mutual TLS, its certificate's identities — so that changes made with a leaked admin key can be told from
    /// the operators' own. Never a secret. (Neither the stored events nor any log line said who did them.)
    func audit(_ context: CallContext, _ caller: Caller, _ action: String, _ metadata: Logger.Metadata) {
        var metadata = metadata
        metadata["actor_key"] = "\(caller.key.id)"
        metadata["actor_scope"] = "\(caller.key.scope.rawValue)"
        metadata["peer"] = "\(context.peer.address)"
        if !context.peer.certificateIdentities.isEmpty {
            metadata["peer_identities"] = "\(context.peer.certificateIdentities.joined(separator: ","))"
        }
        Self.auditNotice(context.logger, action, metadata)
    }

    /// The administrative change's line: `admin: <action>` at notice, every value escaped (``auditValue(_:)``). Also
    /// for the admin key a start makes, whose actor is the start.
    package static func auditNotice(_ logger: Logger, _ action: String, _ metadata: Logger.Metadata) {
        logger.notice("admin: \(action)", metadata: metadata.mapValues { .string(auditValue("\($0)")) })
    }

    /// ``audit(_:_:_:_:)`` of a change an admin key made on a tenant's numbers or trunks (the tenant's own changes are
    /// theirs, named in the ledger's actor; an operator's are administrative changes like any other).
    func auditIfAdmin(_ context: CallContext, _ caller: Caller, _ action: String, _ metadata: Logger.Metadata) {
        guard caller.key.scope == .admin else { return }
        audit(context, caller, action, metadata)
    }

    /// The ``auditIfAdmin(_:_:_:_:)`` line of a change that failed with `error`, when its outcome is unknown
    /// (`OUTCOME_UNKNOWN`: the provider's answer lost, or the provider acted and the record found no room) — it may
    /// have been made, or reconciliation may yet make it, so a change an admin key asked for is not left out of the
    /// log for failing — with `outcome=unknown`. Any other failure changed nothing and writes nothing.
    func auditIfAdmin(
        _ context: CallContext, _ caller: Caller, _ action: String, _ metadata: Logger.Metadata,
        failedWith error: any Error
    ) {
        guard (error as? NumberError)?.reason == .outcomeUnknown else { return }
        var metadata = metadata
        metadata["outcome"] = "unknown"
        auditIfAdmin(context, caller, action, metadata)
    }

    /// Runs `change`, a change `caller` asks of a tenant's numbers or trunks; when it fails with its outcome unknown,
    /// its ``auditIfAdmin(_:_:_:_:failedWith:)`` line is written before the error goes on.
    func auditingUnknownOutcome<T: Sendable>(
        _ context: CallContext, _ caller: Caller, _ action: String, _ metadata: Logger.Metadata,
        _ change: () async throws -> T
    ) async throws -> T {
        do {
            return try await change()
        } catch {
            auditIfAdmin(context, caller, action, metadata, failedWith: error)
            throw error
        }
    }

    /// `text` as one field of an audit line, which the log writes as `key=value` pairs separated by spaces, unquoted:
    /// a value of printable ASCII without a space, a quote, a backslash or `=` as it is, any other in quotes, with
    /// quotes and backslashes escaped and every character outside printable ASCII as `\u{hex}` — so free text (an
    /// adjustment's reason, a name) can neither add a field (`… actor_key=KEY_other`) nor break the line (U+2028).
    static func auditValue(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy {
            (0x21...0x7E).contains($0.value) && !"\"\\=".unicodeScalars.contains($0)
        }
        if plain && !text.isEmpty { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": quoted += "\\" + String(scalar)
            case " "..."~": quoted.unicodeScalars.append(scalar)
            default: quoted += "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return quoted + "\""
    }

    /// Takes a purchase's numbers from the caller's purchase cap, and returns the request as it is to be run. Called
    /// after the request passed every check that needs no state: one that can never succeed (more numbers than a
    /// purchase allows, a malformed one) is refused INVALID_ARGUMENT, not PURCHASE_CAP with a wait that would not
    /// help, and takes nothing from the cap even for a moment. A retry of a purchase under its idempotency key buys
    /// nothing new: it is not charged, and runs as ``NumberCore/PurchaseRequest/replayOnly`` (unless `asRetry` is
    /// false: the key turned out to be gone, and the request is charged as new).
    func chargePurchases(
        _ caller: inout Caller, _ purchase: PurchaseRequest, asRetry: Bool = true
    ) throws -> PurchaseRequest {
        var purchase = purchase
        purchase.replayOnly = asRetry && service.isPurchaseRetry(purchase)
        if !purchase.replayOnly { try chargePurchases(&caller, numbers: purchase.phoneNumbers.count) }
        return purchase
    }

    private func chargePurchases(_ caller: inout Caller, numbers: Int) throws {
        guard numbers > 0 else { return }
        // The cap is the account's, whoever buys for it: an admin key buying for many accounts takes from each one's
        // cap, not from one of its own (which it used to: one admin key could buy 100 numbers an hour for the whole
        // platform, and its purchases for an account left that account's own cap untouched).
        try rateLimiter.admit(caller.accountId, calls: 0, purchasing: numbers)
        caller.purchasesCharged = numbers
    }
}
