import Foundation
import Testing

@testable import NumberCore

@Suite("Accounts, funds, ledger and API keys")
struct AccountServiceTests {
    @Test("create an account, add funds, read the balance", arguments: StoreKind.allCases)
    func createAndFund(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.service.createAccount(name: "  Acme Corp ", currency: "USD")
        #expect(isCompactId(account.id, prefix: "ACC_"))
        #expect(account.name == "Acme Corp" && account.balance == 0 && account.status == .active)
        let credit = try await h.service.addFunds(accountId: account.id, amount: 5_000, description: "wire")
        #expect(credit.kind == .fundsAdded && credit.amount == 5_000 && credit.balanceAfter == 5_000)
        #expect(isCompactId(credit.id, prefix: "TXN_") && credit.description == "wire")
        let balance = try h.service.balance(accountId: account.id)
        #expect(
            balance == BalanceSummary(accountId: account.id, balance: 5_000, held: 0, available: 5_000, currency: "USD")
        )
        try await h.check()
    }

    @Test("bad account input is refused with the field named", arguments: StoreKind.allCases)
    func badAccountInput(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let empty = await numberError { _ = try await h.service.createAccount(name: "   ", currency: "USD") }
        #expect(empty?.code == .invalidArgument && empty?.details["field"] == "name")
        let long = await numberError {
            _ = try await h.service.createAccount(name: String(repeating: "x", count: 201), currency: "USD")
        }
        #expect(long?.reason == .limitExceeded)
        _ = try await h.service.createAccount(name: String(repeating: "x", count: 200), currency: "USD")
        for currency in ["usd", "US", "USDD", "U$D"] {
            let error = await numberError { _ = try await h.service.createAccount(name: "a", currency: currency) }
            #expect(error?.details["field"] == "currency")
        }
        let missing = await numberError { _ = try h.service.account("ACC_000000000000") }
        #expect(missing?.code == .notFound && missing?.reason == .accountNotFound)
        try await h.check()
    }

    /// Any three upper-case letters used to make an account: one in `ZZZ` could be funded, and then every search and
    /// purchase failed CURRENCY_MISMATCH, since no price is in that currency. Only ISO 4217 codes with a minor unit
    /// (`PricingPolicy.iso4217MinorUnits`) are accepted; codes without one (XXX, XTS, XAU) and withdrawn ones are not.
    @Test("a currency that is not an ISO 4217 code is refused INVALID_FIELD; ISO 4217 codes make accounts")
    func currencyMustBeISO4217() async throws {
        let h = try await Harness(.memory)
        for currency in ["ZZZ", "ABC", "XXX", "XTS", "XAU", "HRK"] {
            let error = await numberError { _ = try await h.service.createAccount(name: "a", currency: currency) }
            #expect(error?.code == .invalidArgument && error?.reason == .invalidField, "\(currency)")
            #expect(error?.details["field"] == "currency", "\(currency)")
        }
        for currency in ["USD", "EUR", "JPY", "KWD", "CLF", "XOF", "ZWG"] {
            let account = try await h.service.createAccount(name: currency, currency: currency)
            #expect(account.currency == currency)
        }
        #expect(PricingPolicy.iso4217MinorUnits.keys.allSatisfy { $0.count == 3 && $0 == $0.uppercased() })
        try await h.check()
    }

    @Test("add funds: amount limits at their edges", arguments: StoreKind.allCases)
    func fundLimits(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.fundsAmountMax = 1_000
        config.limits.balanceMax = 1_500
        let h = try await Harness(kind, config: config)
        let account = try await h.account()
        for amount: Int64 in [0, -5, 1_001] {
            let error = await numberError { _ = try await h.service.addFunds(accountId: account.id, amount: amount) }
            #expect(error?.code == .invalidArgument)
        }
        _ = try await h.service.addFunds(accountId: account.id, amount: 1_000)
        _ = try await h.service.addFunds(accountId: account.id, amount: 500)
        let over = await numberError { _ = try await h.service.addFunds(accountId: account.id, amount: 1) }
        #expect(over?.code == .failedPrecondition && over?.reason == .limitExceeded)
        #expect(try h.service.balance(accountId: account.id).balance == 1_500)
        try await h.check()
    }

    @Test(
        "add funds with an idempotency key: a retry returns the first transaction, other parameters fail",
        arguments: StoreKind.allCases)
    func fundIdempotency(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let account = try await h.account()
        let first = try await h.service.addFunds(accountId: account.id, amount: 700, idempotencyKey: "k-1")
        let again = try await h.service.addFunds(accountId: account.id, amount: 700, idempotencyKey: "k-1")
        #expect(again == first)
        try await h.restart()
        let afterRestart = try await h.service.addFunds(accountId: account.id, amount: 700, idempotencyKey: "k-1")
        #expect(afterRestart == first)
        let reused = await numberError {
            _ = try await h.service.addFunds(accountId: account.id, amount: 701, idempotencyKey: "k-1")
        }
        #expect(reused?.reason == .idempotencyKeyReused && reused?.code == .failedPrecondition)
        #expect(try h.service.balance(accountId: account.id).balance == 700)
        let badKey = await numberError {
            _ = try await h.service.addFunds(
                accountId: account.id, amount: 1, idempotencyKey: String(repeating: "k", count: 129))
        }
        #expect(badKey?.reason == .limitExceeded)
        _ = try await h.service.addFunds(
            accountId: account.id, amount: 1, idempotencyKey: String(repeating: "k", count: 128))
        let spaced = await numberError {
            _ = try await h.service.addFunds(accountId: account.id, amount: 1, idempotencyKey: "a b")
        }
        #expect(spaced?.code == .invalidArgument)
        try await h.check()
    }

    @Test("idempotency keys live at least 24 hours, then expire", arguments: StoreKind.allCases)
    func keyExpiry(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account()
        let first = try await h.service.addFunds(accountId: account.id, amount: 10, idempotencyKey: "day")
        h.clock.advance(by: 86_399)
        #expect(try await h.service.addFunds(accountId: account.id, amount: 10, idempotencyKey: "day") == first)
        _ = try await h.service.runBilling()
        #expect(try await h.service.addFunds(accountId: account.id, amount: 10, idempotencyKey: "day") == first)
        h.clock.advance(by: 1)
        let report = try await h.service.runBilling()
        #expect(report.expiredKeys == 1)
        let second = try await h.service.addFunds(accountId: account.id, amount: 10, idempotencyKey: "day")
        #expect(second.id != first.id)
        #expect(try h.service.balance(accountId: account.id).balance == 20)
        try await h.check()
    }

    /// A key's life counts numberd's running time only, as a grace period does: a client whose first call went
    /// through just before an outage, and that retries once numberd is back a day later, gets its first result — it
    /// used to find the key expired and be credited (or charged) twice.
    @Test(
        "an idempotency key outlives a downtime by its length, at the call and at the billing run's expiry",
        arguments: StoreKind.allCases)
    func keyLifeSkipsDowntime(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let account = try await h.account()
        let first = try await h.service.addFunds(accountId: account.id, amount: 500, idempotencyKey: "before-outage")
        // Down from a minute after the call for 25 hours; the start records it.
        var config = h.config
        let down = Harness.start.addingTimeInterval(60)
        config.billing.downtimes = Downtimes().recording(
            from: down, to: down.addingTimeInterval(25 * 3_600), grace: config.billing.gracePeriodSeconds)
        h.clock.set(down.addingTimeInterval(25 * 3_600 + 60))
        try await h.restart(config: config)
        #expect(try await h.service.runBilling().expiredKeys == 0)
        #expect(
            try await h.service.addFunds(accountId: account.id, amount: 500, idempotencyKey: "before-outage") == first)
        #expect(try h.service.balance(accountId: account.id).balance == 500, "credited once")
        // 24 hours of running time after the call: the minute before the outage and all but a minute since.
        h.clock.set(down.addingTimeInterval(25 * 3_600 + 86_400 - 61))
        #expect(try await h.service.runBilling().expiredKeys == 0)
        h.clock.set(down.addingTimeInterval(25 * 3_600 + 86_400 - 60))
        #expect(try await h.service.runBilling().expiredKeys == 1)
        let again = try await h.service.addFunds(accountId: account.id, amount: 500, idempotencyKey: "before-outage")
        #expect(again.id != first.id, "expired: a new credit")
        try await h.check()
    }

    @Test("adjustments: either sign, never below the available balance", arguments: StoreKind.allCases)
    func adjustments(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 300)
        let debit = try await h.service.adjustBalance(accountId: account.id, amount: -100, reason: "correction")
        #expect(debit.transaction.kind == .adjustment && debit.transaction.balanceAfter == 200)
        let tooMuch = await numberError {
            _ = try await h.service.adjustBalance(accountId: account.id, amount: -201, reason: "x")
        }
        #expect(tooMuch?.reason == .insufficientBalance && tooMuch?.details["shortfall"] == "1")
        let zero = await numberError {
            _ = try await h.service.adjustBalance(accountId: account.id, amount: 0, reason: "x")
        }
        #expect(zero?.code == .invalidArgument)
        for reason in ["", "   ", "tab\tinside", "line\u{2028}separator", "bidi \u{202E}override", "isolate\u{2066}"] {
            let refused = await numberError {
                _ = try await h.service.adjustBalance(accountId: account.id, amount: 1, reason: reason)
            }
            #expect(refused?.code == .invalidArgument && refused?.details["field"] == "reason", "\(reason)")
        }
        let max = NumberServiceConfig.defaults.limits.fundsAmountMax
        let tooLarge = await numberError {
            _ = try await h.service.adjustBalance(accountId: account.id, amount: -(max + 1), reason: "x")
        }
        #expect(tooLarge?.reason == .limitExceeded)
        #expect(try h.service.balance(accountId: account.id).balance == 200)
        try await h.check()
    }

    @Test(
        "adjustments with an idempotency key: a retry returns the first, after a restart too; other uses of it fail",
        arguments: StoreKind.allCases)
    func adjustmentIdempotency(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        let first = try await h.service.adjustBalance(
            accountId: account.id, amount: -400, reason: "double top-up", idempotencyKey: "fix")
        #expect(!first.replayed && first.transaction.idempotencyKey == "fix")
        let again = try await h.service.adjustBalance(
            accountId: account.id, amount: -400, reason: "double top-up", idempotencyKey: "fix")
        #expect(again.replayed && again.transaction == first.transaction)
        try await h.restart()
        let afterRestart = try await h.service.adjustBalance(
            accountId: account.id, amount: -400, reason: "double top-up", idempotencyKey: "fix")
        #expect(afterRestart.replayed && afterRestart.transaction == first.transaction)
        // The balance fell meanwhile below the amount: a replay answers the first result, it does not debit again.
        _ = try await h.service.adjustBalance(accountId: account.id, amount: -500, reason: "other")
        let late = try await h.service.adjustBalance(
            accountId: account.id, amount: -400, reason: "double top-up", idempotencyKey: "fix")
        #expect(late.replayed && late.transaction == first.transaction)
        for (amount, reason) in [(Int64(-401), "double top-up"), (400, "double top-up"), (-400, "another reason")] {
            let reused = await numberError {
                _ = try await h.service.adjustBalance(
                    accountId: account.id, amount: amount, reason: reason, idempotencyKey: "fix")
            }
            #expect(reused?.reason == .idempotencyKeyReused, "\(amount) \(reason)")
        }
        let asFunds = await numberError {
            _ = try await h.service.addFunds(accountId: account.id, amount: 400, idempotencyKey: "fix")
        }
        #expect(asFunds?.reason == .idempotencyKeyReused)
        _ = try await h.service.addFunds(accountId: account.id, amount: 50, idempotencyKey: "funds")
        let fundsKey = await numberError {
            _ = try await h.service.adjustBalance(
                accountId: account.id, amount: 50, reason: "Funds added", idempotencyKey: "funds")
        }
        #expect(fundsKey?.reason == .idempotencyKeyReused, "an AddFunds key with the same amount and text")
        let badKey = await numberError {
            _ = try await h.service.adjustBalance(accountId: account.id, amount: 1, reason: "x", idempotencyKey: "a b")
        }
        #expect(badKey?.code == .invalidArgument)
        #expect(try h.service.balance(accountId: account.id).balance == 150)
        try await h.check()
    }

    @Test("transactions page newest first with opaque tokens", arguments: StoreKind.allCases)
    func transactionPages(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account()
        for amount in 1...7 { _ = try await h.service.addFunds(accountId: account.id, amount: Int64(amount)) }
        var seen: [Int64] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try h.service.listTransactions(accountId: account.id, pageSize: 3, pageToken: token)
            #expect(page.total == 7)
            seen += page.transactions.map(\.amount)
            token = page.nextPageToken
            pages += 1
        } while token != nil
        #expect(seen == [7, 6, 5, 4, 3, 2, 1] && pages == 3)
        let bad = await numberError { _ = try h.service.listTransactions(accountId: account.id, pageToken: "garbage!") }
        #expect(bad?.reason == .invalidPageToken)
        let other = try await h.account(name: "Other")
        let firstPage = try h.service.listTransactions(accountId: account.id, pageSize: 3)
        let foreign = await numberError {
            _ = try h.service.listTransactions(accountId: other.id, pageToken: firstPage.nextPageToken)
        }
        #expect(foreign?.reason == .invalidPageToken)
        let tooBig = await numberError { _ = try h.service.listTransactions(accountId: account.id, pageSize: 501) }
        #expect(tooBig?.reason == .limitExceeded)
        _ = try h.service.listTransactions(accountId: account.id, pageSize: 500)
        try await h.check()
    }

    /// Before, ListApiKeys answered an account's every key at once: up to apiKeysMax + revokedApiKeysKeptMax keys,
    /// far over the 4 MiB a response may carry, so such an account's keys could not be listed at all.
    @Test("API keys page in id order, per account; a token of another account's listing is refused")
    func apiKeyPages() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account()
        let other = try await h.account(name: "Other")
        var made: [String] = []
        for index in 0..<12 {
            made.append(
                try await h.service.createApiKey(name: "k\(index)", scope: .account, accountId: account.id).key.id)
        }
        _ = try await h.service.createApiKey(name: "theirs", scope: .account, accountId: other.id)
        var seen: [String] = []
        var token: String?
        repeat {
            let page = try h.service.listApiKeys(accountId: account.id, pageSize: 5, pageToken: token)
            #expect(page.keys.count == 5 || page.nextPageToken == nil)
            seen += page.keys.map(\.id)
            token = page.nextPageToken
        } while token != nil
        #expect(seen == made.sorted())
        let first = try h.service.listApiKeys(accountId: account.id, pageSize: 5)
        let foreign = await numberError {
            _ = try h.service.listApiKeys(accountId: other.id, pageToken: first.nextPageToken)
        }
        #expect(foreign?.reason == .invalidPageToken)
        #expect(try h.service.listApiKeys(accountId: account.id, pageSize: 12).nextPageToken == nil)
        let tooBig = await numberError { _ = try h.service.listApiKeys(accountId: account.id, pageSize: 501) }
        #expect(tooBig?.reason == .limitExceeded)
        try await h.check()
    }

    /// Page tokens are at most `PageToken.lengthMax` (128) bytes. A token of exactly 128 bytes passes that check —
    /// here one numberd could have made, so the listing is answered — and one of 129 is refused by it:
    /// `INVALID_PAGE_TOKEN` like any bad token, but with the length message and `max`, told apart from a malformed
    /// token of 128 bytes, which the length check lets through and the decoding refuses.
    @Test("a page token of 128 bytes passes the length check, one of 129 is refused by it")
    func pageTokenLengthEdge() async throws {
        let h = try await Harness(.memory)
        for index in 0..<3 { _ = try await h.account(name: "A\(index)") }
        // The accounts listing's keyset token is base64 without padding of "v1|", 16 hash digits, "|", ">" and the
        // key: a 75-byte key makes 96 bytes, 128 characters. All zeros sorts before every account id.
        let atLimit = PageToken.encode(query: "accounts", after: String(repeating: "0", count: 75))
        try #require(PageToken.lengthMax == 128 && atLimit.utf8.count == 128)
        #expect(try h.service.listAccounts(pageToken: atLimit).accounts.count == 3)
        let overLimit = await numberError { _ = try h.service.listAccounts(pageToken: atLimit + "A") }
        #expect(overLimit?.reason == .invalidPageToken)
        #expect(overLimit?.message == "page token is longer than 128 bytes")
        #expect(overLimit?.details["max"] == "128")
        let malformed = await numberError {
            _ = try h.service.listAccounts(pageToken: String(repeating: "A", count: 128))
        }
        #expect(malformed?.reason == .invalidPageToken)
        #expect(malformed?.message == "page token is malformed or belongs to another query")
        #expect(malformed?.details["max"] == nil)
    }

    @Test("accounts page in id order, each exactly once, and accounts created meanwhile shift nothing")
    func accountPages() async throws {
        let h = try await Harness(.memory)
        for index in 0..<23 { _ = try await h.account(name: "A\(index)") }
        let all = h.service.durableState().accounts.keys.sorted()
        var seen: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try h.service.listAccounts(pageSize: 5, pageToken: token)
            #expect(page.accounts.count == 5 || (page.nextPageToken == nil && !page.accounts.isEmpty))
            seen += page.accounts.map(\.id)
            token = page.nextPageToken
            pages += 1
            // Accounts created while paging: earlier ids are behind us, later ones come in order; nothing repeats.
            if pages == 2 { for index in 0..<10 { _ = try await h.account(name: "B\(index)") } }
        } while token != nil
        #expect(seen == seen.sorted() && Set(seen).count == seen.count, "\(seen)")
        #expect(Set(all).isSubset(of: Set(seen)), "an account that existed from the start was skipped")
        let boundary = seen[9]
        let created = Set(h.service.durableState().accounts.keys).subtracting(all)
        #expect(Set(seen).subtracting(all) == created.filter { $0 > boundary })
        // Exactly a page's worth: no token for an empty next page.
        let exact = try h.service.listAccounts(pageSize: 33)
        #expect(exact.accounts.count == 33 && exact.nextPageToken == nil)

        let garbage = await numberError { _ = try h.service.listAccounts(pageToken: "garbage!") }
        #expect(garbage?.reason == .invalidPageToken)
        let account = try #require(h.service.durableState().accounts.keys.first)
        _ = try await h.service.addFunds(accountId: account, amount: 1)
        _ = try await h.service.addFunds(accountId: account, amount: 2)
        let ledgerToken = try h.service.listTransactions(accountId: account, pageSize: 1).nextPageToken
        let foreign = await numberError { _ = try h.service.listAccounts(pageToken: ledgerToken) }
        #expect(foreign?.reason == .invalidPageToken, "a token of another listing is refused")
        let tooBig = await numberError { _ = try h.service.listAccounts(pageSize: 501) }
        #expect(tooBig?.reason == .limitExceeded)
        try await h.check()
    }

    @Test("a transactions page carries the E.164 of every number it concerns, released numbers included")
    func transactionPhoneNumbers() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 100_000)
        h.provider.stock(["+14155550100", "+14155550101"])
        let bought = try await h.buy(["+14155550100", "+14155550101"], for: account.id)
        _ = try await h.service.release(accountId: account.id, numberId: bought.numbers[0].id)
        let page = try h.service.listTransactions(accountId: account.id)
        let concerned = Set(page.transactions.compactMap(\.numberId))
        #expect(concerned == Set(bought.numbers.map(\.id)))
        #expect(page.phoneNumbers == Dictionary(uniqueKeysWithValues: bought.numbers.map { ($0.id, $0.phoneNumber) }))
        // Only what the page concerns: the funds-only page has none.
        let last = try h.service.listTransactions(accountId: account.id, pageSize: page.total - 1)
        let fundsOnly = try h.service.listTransactions(
            accountId: account.id, pageSize: 1, pageToken: last.nextPageToken)
        #expect(fundsOnly.transactions.map(\.kind) == [.fundsAdded] && fundsOnly.phoneNumbers.isEmpty)
        try await h.check()
    }

    @Test(
        "API keys: the secret is shown once, stored hashed, checked, scoped and revocable",
        arguments: StoreKind.allCases)
    func apiKeys(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let account = try await h.account()
        let other = try await h.account(name: "Other")
        let admin = try await h.service.createApiKey(name: "root", scope: .admin, accountId: nil)
        let user = try await h.service.createApiKey(name: "app", scope: .account, accountId: account.id)
        let reader = try await h.service.createApiKey(name: "dash", scope: .readOnly, accountId: account.id)
        #expect(user.secret.hasPrefix("nk_") && user.secret.count == 79)
        #expect(!user.key.secretHash.contains(user.secret) && user.key.secretHash.count == 64)
        try await h.restart()
        #expect(try h.service.authenticate(secret: user.secret) == user.key)
        #expect(try h.service.authenticate(secret: admin.secret).scope == .admin)
        var tampered = Array(user.secret)
        tampered[tampered.count - 1] = tampered.last == "0" ? "1" : "0"
        for wrong in [String(tampered), "", "nk_", user.secret + "0", "Bearer " + user.secret] {
            let error = await numberError { _ = try h.service.authenticate(secret: wrong) }
            #expect(error?.code == .unauthenticated && error?.reason == .invalidCredentials)
        }
        #expect(user.key.permits(accountId: account.id, write: true))
        #expect(!user.key.permits(accountId: other.id, write: false))
        #expect(reader.key.permits(accountId: account.id, write: false))
        #expect(!reader.key.permits(accountId: account.id, write: true))
        #expect(admin.key.permits(accountId: other.id, write: true))
        let denied = await numberError { try h.service.authorize(reader.key, accountId: account.id, write: true) }
        #expect(denied?.code == .permissionDenied)
        _ = try await h.service.revokeApiKey(keyId: user.key.id)
        let revoked = await numberError { _ = try h.service.authenticate(secret: user.secret) }
        #expect(revoked?.code == .unauthenticated)
        let adminBound = await numberError {
            _ = try await h.service.createApiKey(name: "x", scope: .admin, accountId: account.id)
        }
        #expect(adminBound?.code == .invalidArgument)
        let unbound = await numberError {
            _ = try await h.service.createApiKey(name: "x", scope: .account, accountId: nil)
        }
        #expect(unbound?.code == .invalidArgument)
        let missing = await numberError { _ = try await h.service.revokeApiKey(keyId: "KEY_000000000000") }
        #expect(missing?.code == .notFound)
        let unknownAccount = await numberError { _ = try h.service.listApiKeys(accountId: "ACC_000000000000") }
        #expect(unknownAccount?.reason == .accountNotFound, "not an empty page for a mistyped account")
        try await h.check()
    }

    @Test(
        "the last admin key that works is not revoked; with another one it is, and revoking twice stays harmless",
        arguments: StoreKind.allCases)
    func lastAdminKey(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let first = try await h.service.createApiKey(name: "bootstrap", scope: .admin, accountId: nil)
        let account = try await h.account()
        _ = try await h.service.createApiKey(name: "app", scope: .account, accountId: account.id)
        let last = await numberError { _ = try await h.service.revokeApiKey(keyId: first.key.id) }
        #expect(last?.code == .failedPrecondition && last?.reason == .lastAdminKey, "\(String(describing: last))")
        #expect(try h.service.authenticate(secret: first.secret).id == first.key.id, "still works")
        let second = try await h.service.createApiKey(name: "ops", scope: .admin, accountId: nil)
        #expect(try await h.service.revokeApiKey(keyId: first.key.id).revokedAt != nil)
        #expect(try await h.service.revokeApiKey(keyId: first.key.id).revokedAt != nil, "twice: harmless")
        try await h.restart()
        let now = await numberError { _ = try await h.service.revokeApiKey(keyId: second.key.id) }
        #expect(now?.reason == .lastAdminKey, "the revoked one does not count")
        #expect(try await h.service.revokeApiKey(keyId: second.key.id, leavingNoAdminKey: true).revokedAt != nil)
        try await h.check()
    }

    @Test("two admin keys revoked at once: one of them stays", arguments: StoreKind.allCases)
    func concurrentRevocations(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let keys = [
            try await h.service.createApiKey(name: "a", scope: .admin, accountId: nil),
            try await h.service.createApiKey(name: "b", scope: .admin, accountId: nil),
        ]
        let outcomes = await withTaskGroup(of: NumberError?.self) { group in
            for key in keys {
                group.addTask { await numberError { _ = try await h.service.revokeApiKey(keyId: key.key.id) } }
            }
            return await group.reduce(into: [NumberError?]()) { $0.append($1) }
        }
        #expect(outcomes.compactMap { $0?.reason } == [.lastAdminKey])
        #expect(keys.filter { (try? h.service.authenticate(secret: $0.secret)) != nil }.count == 1)
        try await h.check()
    }
}

/// Whether `id` is `prefix` and 11 characters of lower-case Crockford base32: 15 bytes, the most Swift keeps inline
/// in a `String` (what makes ids cheap to hash, compare and store in the state's tables).
func isCompactId(_ id: String, prefix: String) -> Bool {
    let alphabet = Set("0123456789abcdefghjkmnpqrstvwxyz")
    return id.hasPrefix(prefix) && id.utf8.count == 15 && id.dropFirst(prefix.count).allSatisfy(alphabet.contains)
}
