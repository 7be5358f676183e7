import Foundation
import NumberCore
import Testing

@Suite("Configured limits at their edges")
struct LimitTests {
    @Test("accountsMax, apiKeysMax and descriptionLengthMax")
    func counts() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.accountsMax = 2
        config.limits.apiKeysMax = 1
        config.limits.descriptionLengthMax = 10
        let h = try await Harness(.memory, config: config)
        let account = try await h.service.createAccount(name: "a", currency: "USD")
        _ = try await h.service.createAccount(name: "b", currency: "USD")
        let third = await numberError { _ = try await h.service.createAccount(name: "c", currency: "USD") }
        #expect(third?.code == .resourceExhausted && third?.reason == .limitExceeded)
        // The limit travels in `max`, as proto/ERRORS.md says (both refusals carried no metadata).
        #expect(third?.details == ["max": "2"], "\(String(describing: third))")
        _ = try await h.service.createApiKey(name: "k", scope: .admin, accountId: nil)
        let secondKey = await numberError {
            _ = try await h.service.createApiKey(name: "k2", scope: .admin, accountId: nil)
        }
        #expect(secondKey?.code == .resourceExhausted && secondKey?.reason == .limitExceeded)
        #expect(secondKey?.details == ["max": "1"], "\(String(describing: secondKey))")
        _ = try await h.service.addFunds(
            accountId: account.id, amount: 1, description: String(repeating: "d", count: 10))
        let long = await numberError {
            _ = try await h.service.addFunds(
                accountId: account.id, amount: 1, description: String(repeating: "d", count: 11))
        }
        #expect(long?.reason == .limitExceeded)
        try await h.check()
    }

    /// Text from the provider goes into answers and journal records: it is bounded like a caller's. Before, a
    /// listing whose friendly name or locality was longer than a journal record (1 MiB) made its purchase's record
    /// `recordTooLarge`, which stops every write of the service until a restart.
    @Test(
        "the provider's text is cut to providerTextLengthMax scalars, control characters dropped",
        arguments: StoreKind.allCases)
    func providerTextIsBounded(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 100_000)
        let huge = String(repeating: "\u{1F4DE}", count: 400_000)  // 1.6 MB of UTF-8
        let phones = ["+14155550101", "+14155550102"]
        for phone in phones {
            h.provider.stock(
                AvailableNumber(
                    phoneNumber: phone, friendlyName: "Main\u{0}\nline " + huge, locality: huge, region: "C\u{7}A",
                    postalCode: huge, country: "US", type: .local, capabilities: NumberCapabilities(voice: true)))
        }
        let max = NumberServiceConfig.defaults.limits.providerTextLengthMax
        let found = try await h.service.search(ProviderSearchQuery(country: "US", limit: 1))
        #expect(found.numbers.count == 1 && found.totalFound == 2)
        for listing in found.numbers.map(\.number) {
            #expect(listing.friendlyName == "Mainline " + String(repeating: "\u{1F4DE}", count: max - 9))
            #expect(listing.locality?.unicodeScalars.count == max)
            #expect(listing.region == "CA")
        }
        // One number seen in the search (the cached listing), one looked up by the purchase itself.
        let result = try await h.service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        for number in result.numbers {
            #expect(number.friendlyName.unicodeScalars.count == max)
            #expect(number.postalCode?.unicodeScalars.count == max)
        }
        // The store still writes.
        _ = try await h.service.addFunds(accountId: account.id, amount: 1)
        try await h.check()
    }

    /// Names, descriptions and trunk SIDs are counted in Unicode scalars. They were counted in characters (grapheme
    /// clusters), and one character may carry any number of combining scalars: "a" and 600,000 combining accents is
    /// one character of 1.2 MB. Any account key could name a trunk so (65 characters, under the 200 allowed), the
    /// trunk's journal record was then larger than the journal takes (1 MiB), and the refused commit stopped every
    /// write of every account until a restart (`STORE_FAILED`). Now each field is refused `LIMIT_EXCEEDED` and the
    /// store goes on writing.
    @Test(
        "text counted in scalars: a name that is one character of 1.2 MB is refused and writes go on",
        arguments: StoreKind.allCases)
    func oneHugeCharacterIsRefused(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        let huge = String(repeating: "a", count: 64) + "a" + String(repeating: "\u{301}", count: 600_000)
        #expect(huge.count == 65)
        let refusals: [NumberError?] = [
            await numberError {
                _ = try await h.service.createTrunk(accountId: account.id, name: huge, providerTrunkSid: "")
            },
            await numberError {
                _ = try await h.service.createTrunk(accountId: account.id, name: "t", providerTrunkSid: "TK" + huge)
            },
            await numberError { _ = try await h.service.createAccount(name: huge, currency: "USD") },
            await numberError {
                _ = try await h.service.createApiKey(name: huge, scope: .account, accountId: account.id)
            },
            await numberError { _ = try await h.service.addFunds(accountId: account.id, amount: 1, description: huge) },
            await numberError {
                _ = try await h.service.adjustBalance(accountId: account.id, amount: 1, reason: huge)
            },
        ]
        for refusal in refusals { #expect(refusal?.reason == .limitExceeded, "\(String(describing: refusal))") }
        #expect(h.service.storeFailure == nil)
        // At the limit in scalars of four bytes each: accepted, and the store still writes after it.
        let widest = String(repeating: "\u{1F4DE}", count: NumberServiceConfig.defaults.limits.nameLengthMax)
        _ = try await h.service.createTrunk(
            accountId: account.id, name: widest, providerTrunkSid: "TK" + String(repeating: "0", count: 32))
        _ = try await h.service.createAccount(name: widest, currency: "USD")
        _ = try await h.service.addFunds(
            accountId: account.id, amount: 1,
            description: String(repeating: "\u{1F4DE}", count: NumberServiceConfig.defaults.limits.descriptionLengthMax)
        )
        let over = await numberError {
            _ = try await h.service.createAccount(name: widest + "a", currency: "USD")
        }
        #expect(over?.reason == .limitExceeded)
        #expect(h.service.storeFailure == nil)
        try await h.check()
    }

    /// `apiKeysMax` bounds the keys that work: a revoked key no longer counts, so at the cap revoking one makes room.
    /// Before, revoked keys counted forever and a directory at the cap could make no key again, not even the admin
    /// key numberd makes at start when `admin.key` no longer works. Revoked keys are still listed, with `revokedAt`.
    @Test(
        "apiKeysMax counts the keys that are not revoked: at the cap, revoking one makes room",
        arguments: StoreKind.allCases)
    func revokedKeysMakeRoom(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.apiKeysMax = 2
        var h = try await Harness(kind, config: config)
        let account = try await h.account()
        let first = try await h.service.createApiKey(name: "one", scope: .account, accountId: account.id)
        _ = try await h.service.createApiKey(name: "two", scope: .admin, accountId: nil)
        let full = await numberError {
            _ = try await h.service.createApiKey(name: "three", scope: .account, accountId: account.id)
        }
        #expect(full?.code == .resourceExhausted)
        _ = try await h.service.revokeApiKey(keyId: first.key.id)
        let third = try await h.service.createApiKey(name: "three", scope: .account, accountId: account.id)
        // The revoked key is still listed, marked revoked.
        let listed = try h.service.listApiKeys(accountId: account.id).keys
        #expect(listed.map(\.id).sorted() == [first.key.id, third.key.id].sorted())
        #expect(listed.first { $0.id == first.key.id }?.revokedAt != nil)
        #expect(listed.first { $0.id == third.key.id }?.revokedAt == nil)
        // At the cap again: the two working keys count, the revoked one does not.
        let again = await numberError {
            _ = try await h.service.createApiKey(name: "four", scope: .admin, accountId: nil)
        }
        #expect(again?.code == .resourceExhausted)
        // Revoking twice frees nothing more.
        _ = try await h.service.revokeApiKey(keyId: first.key.id)
        let twice = await numberError {
            _ = try await h.service.createApiKey(name: "four", scope: .admin, accountId: nil)
        }
        #expect(twice?.code == .resourceExhausted)
        try await h.check()
        // After a restart (a snapshot and the journal read back) the count is the same.
        try await h.restart()
        let afterRestart = await numberError {
            _ = try await h.service.createApiKey(name: "four", scope: .admin, accountId: nil)
        }
        #expect(afterRestart?.code == .resourceExhausted)
        _ = try await h.service.revokeApiKey(keyId: third.key.id)
        _ = try await h.service.createApiKey(name: "four", scope: .admin, accountId: nil)
        try await h.check()
    }

    @Test(
        "revoked keys kept: past revokedApiKeysKeptMax the oldest revoked are dropped, so the key table is bounded",
        arguments: StoreKind.allCases)
    func revokedKeysArePurgedPastTheirBound(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.apiKeysMax = 3
        config.limits.revokedApiKeysKeptMax = 2
        var h = try await Harness(kind, config: config)
        let account = try await h.account()
        var revoked: [String] = []
        // Make and revoke five keys, a second apart: every key fits the cap of three working ones, and at most two
        // revoked ones stay, the newest.
        for index in 0..<5 {
            let made = try await h.service.createApiKey(name: "k\(index)", scope: .account, accountId: account.id)
            h.clock.advance(by: 1)
            _ = try await h.service.revokeApiKey(keyId: made.key.id)
            revoked.append(made.key.id)
            let listed = try h.service.listApiKeys(accountId: account.id).keys
            #expect(listed.map(\.id).sorted() == Array(revoked.suffix(2)).sorted())
            #expect(listed.allSatisfy { $0.revokedAt != nil })
        }
        #expect(h.service.durableState().apiKeys.count == 2)
        try await h.check()
        try await h.restart()
        #expect(h.service.durableState().apiKeys.count == 2)
        let working = try await h.service.createApiKey(name: "live", scope: .account, accountId: account.id)
        #expect(try h.service.authenticate(secret: working.secret).id == working.key.id)
        try await h.check()
    }

    @Test("revokedApiKeysKeptMax 0 keeps no revoked key")
    func noRevokedKeysKept() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.revokedApiKeysKeptMax = 0
        let h = try await Harness(.memory, config: config)
        let made = try await h.service.createApiKey(name: "one", scope: .admin, accountId: nil)
        let revoked = try await h.service.revokeApiKey(keyId: made.key.id, leavingNoAdminKey: true)
        #expect(revoked.revokedAt != nil)
        #expect(h.service.durableState().apiKeys[made.key.id] == nil)
        #expect(throws: NumberError.self) { try h.service.authenticate(secret: made.secret) }
        try await h.check()
    }

    @Test("provider prices are cached for priceTTLSeconds, then fetched again")
    func priceCache() async throws {
        var config = NumberServiceConfig.defaults
        config.caches.priceTTLSeconds = 60
        let h = try await Harness(.memory, config: config)
        _ = try await h.service.quote(country: "US", type: .local)
        h.clock.advance(by: 59)
        _ = try await h.service.quote(country: "US", type: .local)
        #expect(h.provider.calls(.price) == 1)
        h.provider.setPrice(ProviderPrice(country: "US", type: .local, monthlyCostMicros: 3_000_000, currency: "USD"))
        h.clock.advance(by: 1)
        let fresh = try await h.service.quote(country: "US", type: .local)
        #expect(h.provider.calls(.price) == 2 && fresh.monthlyFee == 345)
    }

    @Test("configuration is validated: keys must live at least 24 hours and be at most 128 bytes")
    func configValidation() {
        var config = NumberServiceConfig.defaults
        #expect(config.validate().isEmpty)
        config.idempotency.ttlSeconds = 86_399
        #expect(config.validate() == ["idempotency.ttlSeconds must be at least 86400"])
        // Keys of 1...128 bytes: the journal's size estimates assume no longer (a billing run's expired keys).
        for length in [0, 129, 4_096] {
            config = .defaults
            config.idempotency.keyLengthMax = length
            #expect(config.validate() == ["idempotency.keyLengthMax must be in 1...128"], "\(length)")
        }
        config.idempotency.keyLengthMax = 128
        #expect(config.validate().isEmpty)
        config = .defaults
        config.limits.pageSizeDefault = 501
        #expect(config.validate().count == 1)
        config = .defaults
        config.limits.providerTextLengthMax = 65
        #expect(config.validate() == ["limits.providerTextLengthMax must be in 1...64"])
        config.limits.providerTextLengthMax = 0
        #expect(config.validate().count == 1)
        // Caller text the journal's size estimates take at its default length at most.
        config = .defaults
        config.limits.nameLengthMax = 201
        config.limits.providerSidLengthMax = 65
        config.limits.descriptionLengthMax = 501
        #expect(
            config.validate() == [
                "limits.nameLengthMax must be in 1...200", "limits.providerSidLengthMax must be in 1...64",
                "limits.descriptionLengthMax must be in 1...500",
            ])
        config.limits.nameLengthMax = 1
        config.limits.providerSidLengthMax = 1
        config.limits.descriptionLengthMax = 1
        #expect(config.validate().isEmpty)
    }

    @Test("configuration is validated: every amount the service sums stays within Int64, at the edges")
    func amountLimitsFitInt64() {
        var config = NumberServiceConfig.defaults
        config.limits.numbersPerAccountMax = config.limits.purchaseNumbersMax
        config.pricing.feeMax = Int64.max / 2 / Int64(config.limits.purchaseNumbersMax)
        #expect(config.validate().isEmpty)
        config.pricing.feeMax += 1
        #expect(config.validate().count == 2, "a purchase's charge and an account's monthly cost")
        // A review: an account's monthly cost summed up to numbersPerAccountMax fees, which could wrap negative.
        config = .defaults
        config.pricing.feeMax = Int64.max / 2 / Int64(config.limits.numbersPerAccountMax)
        #expect(config.validate().isEmpty)
        config.pricing.feeMax += 1
        #expect(
            config.validate() == [
                "limits.numbersPerAccountMax must be positive, pricing.feeMax at most Int64.max / (2 × it)"
            ])
        config = .defaults
        config.limits.balanceMax = Int64.max - config.limits.fundsAmountMax
        #expect(config.validate().isEmpty)
        config.limits.balanceMax += 1
        #expect(config.validate().count == 1)
        config = .defaults
        config.limits.fundsAmountMax = 0
        #expect(config.validate().count == 1)
        config = .defaults
        config.pricing.setupFees["US/local"] = -1
        #expect(config.validate().count == 1)
        config = .defaults
        config.pricing.markupPercent = 10_001
        #expect(config.validate().count == 1)
        config = .defaults
        config.limits.revokedApiKeysKeptMax = -1
        #expect(config.validate() == ["limits.revokedApiKeysKeptMax must not be negative"])
    }

    /// A minimum monthly fee over `feeMax` passed, and every quote then failed PROVIDER_PRICE_INVALID, blaming
    /// Twilio. A currency's digits other than ISO 4217's passed if within 0...6, while clients, the CLI and messages
    /// read amounts with ISO's: its fees a factor of ten or more off what they showed.
    @Test("configuration is validated: the minimum monthly fee within feeMax, each ISO currency's digits its own")
    func pricingValidation() {
        var config = NumberServiceConfig.defaults
        config.pricing.minimumMonthlyFee = config.pricing.feeMax
        #expect(config.validate().isEmpty)
        config.pricing.minimumMonthlyFee += 1
        #expect(config.validate() == ["pricing.minimumMonthlyFee must be at most feeMax: every price would be refused"])

        let digits: (String) -> String = { named in
            "pricing.minorUnitExponents and defaultMinorUnitExponent must give each ISO 4217 currency its own digits "
                + "(PricingPolicy.iso4217MinorUnits), which clients read amounts with: not so for \(named)"
        }
        config = .defaults
        config.pricing.minorUnitExponents["USD"] = 3
        #expect(config.validate() == [digits("USD")])
        // Listing a currency with its own digits changes nothing.
        config.pricing.minorUnitExponents["USD"] = 2
        #expect(config.validate().isEmpty)
        // Left out, a currency takes the default: two digits for the yen, which has none.
        config.pricing.minorUnitExponents["JPY"] = nil
        #expect(config.validate() == [digits("JPY")])
        // A code the table lacks prices nothing an account pays.
        config = .defaults
        config.pricing.minorUnitExponents["ZZZ"] = 3
        #expect(config.validate().isEmpty)
        // Another default misreads every two-digit currency not listed: the first five named.
        config.pricing.defaultMinorUnitExponent = 3
        let twoDigits = PricingPolicy.iso4217MinorUnits.values.count { $0 == 2 }
        #expect(config.validate() == [digits("AED, AFN, ALL, AMD, ANG and \(twoDigits - 5) more")])
    }

    /// A refund is owed whatever the balance, so it is not held to `balanceMax`, and `account.balance + refund` was
    /// unchecked: a balance near Int64.max (a configuration near it, or changed between restarts) trapped at the
    /// release's record — and again at each reconciliation pass that retried it after the restart. An adjustment
    /// trapped the same way.
    @Test("a refund that would take the balance past Int64.max is cut to fit, an adjustment refused: never a trap")
    func refundNearInt64Max() async throws {
        var h = try await Harness(.memory)
        let account = try await h.account(funds: 133)
        let number = try await h.buy(["+14155550100"], for: account.id).numbers[0]
        // Ten short of Int64.max: posted straight to the store (no configuration lets AddFunds get there in one go).
        let topUp = LedgerTransaction(
            id: "TXN_TESTMAX0001", accountId: account.id, kind: .adjustment, amount: Int64.max - 10,
            balanceAfter: Int64.max - 10, currency: "USD", numberId: nil, description: "near the top",
            createdAt: h.clock.now(), idempotencyKey: nil)
        let store = h.memoryStore
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            store.commit([.transactionPosted(topUp)]) { continuation.resume(with: $0) }
        }
        try await h.restart()
        h.clock.advance(by: 86_400 * 10)
        let adjusted = await numberError {
            _ = try await h.service.adjustBalance(accountId: account.id, amount: 100, reason: "more")
        }
        #expect(adjusted?.code == .failedPrecondition && adjusted?.reason == .limitExceeded)
        let result = try await h.service.release(accountId: account.id, numberId: number.id)
        // 88 owed (20 of 30 days), 10 credited: what the balance holds.
        #expect(result.refund == 10 && result.transaction?.amount == 10 && result.transaction?.balanceAfter == .max)
        #expect(try h.service.balance(accountId: account.id).balance == Int64.max)
        // Above `balanceMax` now, the account can still be debited (a correction is never refused for the ceiling).
        let debit = try await h.service.adjustBalance(accountId: account.id, amount: -5, reason: "correction")
        #expect(debit.transaction.balanceAfter == Int64.max - 5)
        try await h.check()
    }

    @Test("a billing run's limits keep each of its decisions within one journal record, at their edges")
    func billingLimitsFitARecord() {
        var config = NumberServiceConfig.defaults
        config.billing.actionsPerRunMax = 512  // 512 × 2 KiB = the 1 MiB record limit
        config.billing.expiredKeysPerRunMax = 3_276  // 256 + 3,276 × 320 bytes ≤ 1 MiB
        #expect(config.validate().isEmpty)
        config.billing.actionsPerRunMax = 513
        #expect(config.validate() == ["billing.actionsPerRunMax must be in 1...512"])
        config.billing.actionsPerRunMax = 0
        #expect(config.validate() == ["billing.actionsPerRunMax must be in 1...512"])
        config.billing.actionsPerRunMax = 1
        config.billing.expiredKeysPerRunMax = 3_277
        #expect(config.validate() == ["billing.expiredKeysPerRunMax must be in 1...3276"])
        config.billing.expiredKeysPerRunMax = 0
        #expect(config.validate() == ["billing.expiredKeysPerRunMax must be in 1...3276"])
    }

    @Test("opening a service with an invalid configuration throws")
    func openRefusesBadConfig() async {
        var config = NumberServiceConfig.defaults
        config.idempotency.ttlSeconds = 3_600
        let error = await numberError {
            _ = try await NumberService.open(store: InMemoryNumberStore(), provider: FakeProvider(), config: config)
        }
        #expect(error?.code == .invalidArgument)
    }
}
