import ArgumentParser
import Foundation
import NumberAPI
import NumberClient

/// How `funds add` and `funds adjust` read an amount and show what they did. The amount is read in the currency the
/// operator names (`--currency`, required) and sent with it, so numberd refuses it unless that is the account's
/// (exit 5, `CURRENCY_MISMATCH`, nothing done). It used to be read in the account's own currency and sent back with
/// it, which no check could refuse: `funds add 25` meant for dollars credited 25.000 KWD to a KWD account.
extension Funds {
    /// The help of the amount argument.
    static let amountHelp = ArgumentHelp(
        """
        In the currency's major units, with at most its minor digits: 25, 25.50 USD; 2500 JPY. Unsigned: `funds \
        adjust --debit` takes money away.
        """)

    /// The help of `--currency`.
    static let currencyHelp = ArgumentHelp(
        """
        The account's currency, ISO 4217 (USD, JPY, KWD; required): the amount is read in it, and refused (exit 5, \
        CURRENCY_MISMATCH, nothing done) if it is not the account's.
        """)

    /// `amount` (major units, as typed) in minor units of `currency`; exit 3 unless it is a positive amount of it
    /// (nothing sent). A sign, `+5` as `-5` after `--`, is named as such, a usage error (64) as `-5` is when
    /// ArgumentParser reads it as an option: the README's "a signed amount" exits 64 however it was typed.
    static func minorUnits(_ amount: String, _ currency: String, hint: String = "") throws -> Int64 {
        guard let minor = Format.minorUnits(amount, currency: currency), minor > 0 else {
            let signed = amount.count > 1 && (amount.hasPrefix("+") || amount.hasPrefix("-"))
            let huge = CurrencyMinorUnits.parsed(amount, currency: currency) == .failure(.tooLarge)
            throw CLIError(
                code: signed ? 64 : 3,
                message: (huge
                    ? "error: '\(amount)' is too large an amount: no call credits or debits that much"
                    : "error: '\(amount)' is not a positive amount of \(currency) in its major units, with at "
                        + "most its minor digits (25, 25.50 USD; 2500 JPY)")
                    + (signed ? "; amounts are unsigned: give \(amount.dropFirst()), not \(amount)" : "")
                    + "\(hint); nothing was sent")
        }
        return minor
    }

    /// The account the options name, for its id and name in the result line. Looked up before the keyed call, so a
    /// failure here did nothing under the key; its currency is not used: numberd checks the one typed against it.
    static func account(_ global: GlobalOptions, _ client: NumbersClient) async throws -> NumberAPI.Account {
        try await client.getAccount(GetAccountRequest(accountId: global.accountId)).account
    }

    /// `ACC_… (name)`, or the id alone when the account has no name.
    static func named(_ account: NumberAPI.Account) -> String {
        account.name.isEmpty ? account.id : "\(account.id) (\(Format.visible(account.name)))"
    }

    /// Runs the keyed call of a credit or an adjustment of `account` under `key`
    /// (``UnknownOutcome/advising(idempotencyKey:account:_:)``), telling an amount over numberd's limit in `currency`'s
    /// major units, as it was typed: numberd gives the limit in minor units (`LIMIT_EXCEEDED`, field `amount`, `max`),
    /// "larger than 100000000" to an operator who meant dollars.
    static func send<T: Sendable>(
        under key: String, account: String, currency: String, _ call: () async throws -> T
    ) async throws -> T {
        do {
            return try await UnknownOutcome.advising(idempotencyKey: key, account: account, call)
        } catch let error as RPCError where error.reason == "LIMIT_EXCEEDED" && error.details["field"] == "amount" {
            throw CLIError(
                code: CLIError.exitCode(for: error), message: overLimit(error, currency: currency), status: error)
        }
    }

    /// The line for an amount refused as over numberd's limit, the limit in `currency`.
    static func overLimit(_ error: RPCError, currency: String) -> String {
        guard let max = error.details["max"].flatMap({ Int64($0) }) else { return Format.error(error) }
        return "error: \(error.code) (LIMIT_EXCEEDED): the amount is larger than \(Format.money(max, currency)), the "
            + "most one call may credit or debit; nothing was done"
    }

    /// What to say when the arguments did not parse because a `funds add` or `funds adjust` amount has a sign
    /// (`funds add -5.00`): ArgumentParser reads `-5.00` as an option and reports the amount as missing. nil for any
    /// other command or failure, `--help` among them.
    static func signedAmountHint(_ arguments: [String], error: any Error) -> String? {
        guard NumbersCommand.exitCode(for: error) == .validationFailure,
            let funds = arguments.firstIndex(of: "funds"), funds + 1 < arguments.count,
            ["add", "adjust"].contains(arguments[funds + 1]),
            let signed = arguments.first(where: isSigned)
        else { return nil }
        return "amounts are unsigned: give \(signed.dropFirst()), not \(signed) (to take money away: numbers funds "
            + "adjust AMOUNT --debit --reason TEXT --currency CODE)"
    }

    /// Whether `argument` looks like a negative amount: `-5`, `-5.00`.
    static func isSigned(_ argument: String) -> Bool {
        argument.count > 1 && argument.hasPrefix("-") && argument.dropFirst().first?.isNumber == true
            && argument.dropFirst().allSatisfy { $0.isNumber || $0 == "." }
    }
}

/// What `funds add` and `funds adjust` print with `--json`: the response's fields and the account the money moved
/// in, which the response does not name.
struct FundsResult: Encodable {
    var accountId: String
    var transaction: NumberAPI.Transaction
    var balance: Int64
    var replayed: Bool
}
