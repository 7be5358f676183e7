import Foundation
import Logging
import NumberAPI
import NumberCore

// Conversions between the core's domain types and the wire messages of proto/numbers/v1/numbers.proto.

extension NumberAPI.NumberType {
    init(_ type: NumberCore.NumberType) {
        switch type {
        case .local: self = .local
        case .tollFree: self = .tollFree
        case .mobile: self = .mobile
        }
    }

    /// The core's type; UNSPECIFIED means local, unknown values are refused.
    func core(field: String) throws -> NumberCore.NumberType {
        switch self {
        case .unspecified, .local: return .local
        case .tollFree: return .tollFree
        case .mobile: return .mobile
        default:
            throw RPCError(
                code: .invalidArgument, message: "\(field) \(rawValue) is not a number type", reason: "INVALID_FIELD",
                details: ["field": field])
        }
    }
}

extension AdoptionCharge {
    /// The core's charge. No default: UNSPECIFIED, like a value this server does not know, is refused (the operator
    /// chooses what the account is charged).
    func core() throws -> AdoptionRequest.Charge {
        switch self {
        case .full: return .full
        case .firstMonth: return .firstMonth
        default:
            throw RPCError(
                code: .invalidArgument,
                message: "charge must be FULL (setup fee and first month) or FIRST_MONTH (the first month only)",
                reason: "INVALID_FIELD", details: ["field": "charge"])
        }
    }
}

extension Capabilities {
    init(_ capabilities: NumberCapabilities) {
        self.init(voice: capabilities.voice, sms: capabilities.sms, mms: capabilities.mms, fax: capabilities.fax)
    }

    /// The capabilities marked true, as the core's required set.
    var required: Set<Capability> {
        var set: Set<Capability> = []
        if voice { set.insert(.voice) }
        if sms { set.insert(.sms) }
        if mms { set.insert(.mms) }
        if fax { set.insert(.fax) }
        return set
    }
}

extension NumberStatus {
    /// The status the customer sees: RELEASING for a number whose release is running or in doubt.
    init(_ status: OwnedNumber.ListingStatus) {
        switch status {
        case .active: self = .active
        case .pastDue: self = .pastDue
        case .releasing: self = .releasing
        case .released: self = .released
        }
    }

    /// The core's status filter: UNSPECIFIED = every number not released (releasing ones included).
    func coreFilter() throws -> OwnedNumber.ListingStatus? {
        switch self {
        case .unspecified: return nil
        case .active: return .active
        case .pastDue: return .pastDue
        case .releasing: return .releasing
        case .released: return .released
        default:
            throw RPCError(
                code: .invalidArgument, message: "status \(rawValue) is not a number status", reason: "INVALID_FIELD",
                details: ["field": "status"])
        }
    }
}

extension PhoneNumber {
    /// A listing's number: its trunk's name and, past due, when its grace period ends.
    init(_ listing: NumberListing) {
        self.init(listing.number, trunkName: listing.trunkName, graceEndsAt: listing.graceEndsAt)
    }

    init(_ number: OwnedNumber, trunkName: String?, graceEndsAt: Date? = nil) {
        self.init(
            id: number.id, phoneNumber: number.phoneNumber, friendlyName: number.friendlyName, country: number.country,
            region: number.region ?? "", locality: number.locality ?? "", postalCode: number.postalCode ?? "",
            type: NumberAPI.NumberType(number.type), status: NumberStatus(number.listingStatus),
            trunkId: number.trunkId,
            trunkName: number.trunkId == nil ? nil : trunkName, capabilities: Capabilities(number.capabilities),
            pricing: Pricing(setupFee: number.setupFee, monthlyFee: number.monthlyFee, currency: number.currency),
            purchasedAt: number.purchasedAt, billingCycle: .monthly, nextBillingDate: number.nextBillingDate,
            releasedAt: number.releasedAt, releaseRequestedAt: number.releaseRequestedAt,
            pendingTrunkChange: number.routeRequest.map { PendingTrunkChange(trunkId: $0.trunkId, requestedAt: $0.at) },
            graceEndsAt: graceEndsAt)
    }
}

extension TransactionKind {
    init(_ kind: LedgerTransaction.Kind) {
        switch kind {
        case .fundsAdded: self = .fundsAdded
        case .purchase: self = .purchase
        case .renewal: self = .renewal
        case .refund: self = .refund
        case .adjustment: self = .adjustment
        }
    }
}

extension Transaction {
    init(_ transaction: LedgerTransaction, phoneNumber: String) {
        self.init(
            id: transaction.id, kind: TransactionKind(transaction.kind),
            amount: transaction.amount.magnitude > UInt64(Int64.max) ? Int64.max : Int64(transaction.amount.magnitude),
            balanceChange: transaction.amount, currency: transaction.currency, balanceAfter: transaction.balanceAfter,
            numberId: transaction.numberId ?? "", phoneNumber: phoneNumber, description: transaction.description,
            createdAt: transaction.createdAt, actor: transaction.actor?.rawValue ?? "")
    }
}

extension GetStatementResponse {
    init(_ statement: Statement) {
        self.init(
            accountId: statement.accountId, currency: statement.currency, startTime: statement.start,
            endTime: statement.end, openingBalance: statement.openingBalance, closingBalance: statement.closingBalance,
            credits: statement.credits, debits: statement.debits,
            lines: statement.lines.map {
                StatementLine(
                    kind: TransactionKind($0.kind), count: Int32(clamping: $0.count), balanceChange: $0.balanceChange)
            },
            transactionCount: Int32(clamping: statement.transactionCount), asOf: statement.asOf)
    }
}

extension NumberAPI.Account {
    init(_ account: NumberCore.Account) {
        self.init(
            id: account.id, name: account.name, currency: account.currency, balance: account.balance,
            status: account.status == .active ? .active : .suspended, createdAt: account.createdAt)
    }
}

extension AccountStatus {
    func core() throws -> NumberCore.Account.Status {
        switch self {
        case .active: return .active
        case .suspended: return .suspended
        default:
            throw RPCError(
                code: .invalidArgument, message: "status must be ACTIVE or SUSPENDED", reason: "INVALID_FIELD",
                details: ["field": "status"])
        }
    }
}

extension NumberAPI.Trunk {
    init(_ trunk: NumberCore.Trunk, numberCount: Int) {
        self.init(
            id: trunk.id, accountId: trunk.accountId, name: trunk.name, providerTrunkSid: trunk.providerTrunkSid,
            createdAt: trunk.createdAt, numberCount: Int32(clamping: numberCount),
            originationSipUri: trunk.originationSipUri ?? "")
    }
}

extension KeyScope {
    init(_ scope: NumberCore.ApiKey.Scope) {
        switch scope {
        case .admin: self = .admin
        case .account: self = .account
        case .readOnly: self = .readOnly
        }
    }

    func core() throws -> NumberCore.ApiKey.Scope {
        switch self {
        case .admin: return .admin
        case .account: return .account
        case .readOnly: return .readOnly
        default:
            throw RPCError(
                code: .invalidArgument, message: "scope must be ADMIN, ACCOUNT or READ_ONLY", reason: "INVALID_FIELD",
                details: ["field": "scope"])
        }
    }
}

extension NumberAPI.ApiKey {
    init(_ key: NumberCore.ApiKey) {
        self.init(
            id: key.id, accountId: key.accountId ?? "", scope: KeyScope(key.scope), name: key.name,
            createdAt: key.createdAt, revokedAt: key.revokedAt)
    }
}

extension RPCError {
    /// The wire form of a core error: same code, reason, message and details.
    init(_ error: NumberError) {
        self.init(
            code: StatusCode(rawValue: Int32(error.code.rawValue)), message: error.message,
            reason: error.reason.rawValue,
            details: error.details)
    }

    /// Maps any error a handler lets escape: core errors keep their status; anything else is INTERNAL and opaque.
    /// A core error's internal detail (the provider's or the file system's own words) is logged with the call's
    /// request id, which the caller gets in `details["requestId"]` to quote; the detail itself is never sent.
    ///
    /// At warning for the first ``ServerLogBudgets/callFailureWarningsMax`` calls of each reason in a window across
    /// the server's connections, then at debug: any tenant can make calls fail at the provider (a search of a
    /// country Twilio does not know is a 404 with a detail), and while Twilio is down every call is one; the first
    /// warning of a later window first says how many the earlier ones logged at debug.
    static func mapping(_ error: any Error, context: CallContext) -> RPCError {
        if let error = error as? NumberError {
            guard let detail = error.internalDetail else { return RPCError(error) }
            let level = context.logBudgets.callFailureWarnings.level(
                .warning, key: error.reason.rawValue, logger: context.logger,
                held: "call failures logged at debug (server-wide limit)")
            context.logger.log(
                level: level, "call failed: \(error.message)",
                metadata: ["reason": "\(error.reason)", "detail": "\(detail)"])
            var sent = RPCError(error)
            sent.details["requestId"] = context.requestID
            return sent
        }
        if let error = error as? RPCError { return error }
        // Logged, not sent: the request id lets the caller's report be matched to the line (ERRORS.md).
        context.logger.error("call failed with an unexpected error", metadata: ["error": "\(error)"])
        return RPCError(
            code: .internal, message: "internal error", reason: "INTERNAL", details: ["requestId": context.requestID])
    }
}
