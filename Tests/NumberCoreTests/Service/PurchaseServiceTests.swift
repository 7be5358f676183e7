import Foundation
import NumberCore
import Testing

@Suite("Search and purchase")
struct PurchaseServiceTests {
    @Test(
        "search returns the provider's numbers with our price, which is what the purchase charges",
        arguments: StoreKind.allCases)
    func searchPriceIsCharged(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155551234", "+14155559876", "+12125550000"])
        let result = try await h.service.search(
            ProviderSearchQuery(country: "US", areaCode: "415", capabilities: [.voice, .sms], limit: 10),
            accountId: account.id)
        #expect(result.numbers.map(\.number.phoneNumber) == ["+14155551234", "+14155559876"])
        #expect(result.totalFound == 2)
        let price = try #require(result.numbers.first?.price)
        #expect(price == PricingPolicy.Quote(setupFee: 0, monthlyFee: 133, currency: "USD"))
        let bought = try await h.service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155551234"], country: "US", currency: "USD"))
        let number = try #require(bought.numbers.first)
        #expect(number.monthlyFee == price.monthlyFee && number.setupFee == price.setupFee)
        #expect(number.locality == "San Francisco" && number.region == "CA" && number.postalCode == "94102")
        #expect(number.status == .active && isCompactId(number.id, prefix: "NUM_"))
        #expect(number.purchasedAt == .utc("2025-01-15T10:30:00Z"))
        #expect(number.nextBillingDate == .utc("2025-02-15T00:00:00Z"))
        #expect(number.providerSid == h.provider.owned("+14155551234")?.sid)
        let transaction = try #require(bought.transactions.first)
        #expect(transaction.kind == .purchase && transaction.amount == -133 && transaction.balanceAfter == 867)
        #expect(transaction.description == "Phone number setup: +14155551234" && transaction.numberId == number.id)
        #expect(try h.service.balance(accountId: account.id).balance == 867)
        try await h.check()
    }

    @Test("search input is checked, with limits at their edges", arguments: StoreKind.allCases)
    func searchValidation(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let bad: [ProviderSearchQuery] = [
            ProviderSearchQuery(country: "usa"), ProviderSearchQuery(country: "US", limit: 0),
            // No country or territory with telephone numbers: the provider's 404 read as a missing number.
            ProviderSearchQuery(country: "XX"), ProviderSearchQuery(country: "AQ"),
            ProviderSearchQuery(country: "US", limit: 101), ProviderSearchQuery(country: "US", areaCode: "41a"),
            ProviderSearchQuery(country: "US", contains: "55%"),
            ProviderSearchQuery(country: "US", contains: String(repeating: "5", count: 17)),
            ProviderSearchQuery(country: "US", areaCode: "4155"), ProviderSearchQuery(country: "US", areaCode: "41"),
            ProviderSearchQuery(country: "US", areaCode: "41a"),
            // Twilio's AreaCode is for US and Canadian numbers only: elsewhere it would not narrow the search.
            ProviderSearchQuery(country: "GB", areaCode: "207"),
            ProviderSearchQuery(country: "US", region: String(repeating: "x", count: 65)),
            ProviderSearchQuery(country: "US", locality: String(repeating: "x", count: 65)),
            ProviderSearchQuery(country: "US", postalCode: String(repeating: "x", count: 65)),
            // Twilio's Contains rule: wildcards only at either end, at least two digits or letters.
            ProviderSearchQuery(country: "US", contains: "555*FLOWERS"),
            ProviderSearchQuery(country: "US", contains: "5"),
            ProviderSearchQuery(country: "US", contains: "*5"), ProviderSearchQuery(country: "US", contains: "***"),
            ProviderSearchQuery(country: "US", contains: "+"), ProviderSearchQuery(country: "US", contains: "+*415"),
            ProviderSearchQuery(country: "US", contains: "1+415"),
            ProviderSearchQuery(country: "US", contains: "++1415"),
        ]
        for query in bad {
            let error = await numberError { _ = try await h.service.search(query) }
            #expect(error?.code == .invalidArgument, "\(query)")
        }
        // `+` first anchors at the number's start, country code first (how numbers outside the US and Canada are
        // narrowed to an area: +4420 for London).
        for pattern in ["FLOWERS", "55", "**555", "555**", "+1415", "+1415*"] {
            _ = try await h.service.search(ProviderSearchQuery(country: "US", contains: pattern, limit: 100))
        }
        // The accepted side of each length limit: 3 digits for the area code (in the US and Canada), 16 characters for
        // `contains`, 64 Unicode scalars for the text fields (one more of each is refused above).
        let atLimit: [ProviderSearchQuery] = [
            ProviderSearchQuery(country: "US", areaCode: "415"),
            ProviderSearchQuery(country: "US", contains: String(repeating: "5", count: 16)),
            ProviderSearchQuery(country: "US", region: String(repeating: "x", count: 64)),
            ProviderSearchQuery(country: "US", locality: String(repeating: "x", count: 64)),
            ProviderSearchQuery(country: "US", postalCode: String(repeating: "x", count: 64)),
        ]
        for query in atLimit {
            let error = await numberError { _ = try await h.service.search(query) }
            #expect(error == nil, "\(query)")
        }
        let noPrice = await numberError { _ = try await h.service.search(ProviderSearchQuery(country: "FR")) }
        #expect(noPrice?.code == .notFound && noPrice?.reason == .notOffered, "\(String(describing: noPrice))")
        #expect(noPrice?.details["country"] == "FR" && noPrice?.details["type"] == "local")
        h.provider.inject(.fail(.unavailable), on: .search)
        let down = await numberError { _ = try await h.service.search(ProviderSearchQuery(country: "US")) }
        #expect(down?.code == .unavailable && down?.reason == .providerUnavailable)
    }

    /// A price in another currency is no fault of the request: the account was made in a currency numberd's Twilio
    /// account is not billed in, and no search or purchase of it can ever succeed. The message said "currency USD does
    /// not match the account currency JPY", which read as if the caller had named the wrong one; it now says both
    /// currencies and what an account's currency must be.
    @Test("a price in another currency than the account's is a currency mismatch", arguments: StoreKind.allCases)
    func currencyMismatch(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let euro = try await h.account(funds: 1_000, currency: "EUR")
        let search = await numberError {
            _ = try await h.service.search(ProviderSearchQuery(country: "US"), accountId: euro.id)
        }
        #expect(search?.reason == .currencyMismatch && search?.details["expected"] == "EUR")
        #expect(search?.details["got"] == "USD")
        let wording = "Twilio prices these numbers in USD; this account holds EUR and can buy none of them"
        #expect(search?.message.hasPrefix(wording) == true, "\(String(describing: search))")
        #expect(search?.message.hasSuffix("must be the one numberd's Twilio account is billed in") == true)
        h.provider.stock(["+14155550100"])
        let purchase = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: euro.id, phoneNumbers: ["+14155550100"], country: "US"))
        }
        #expect(purchase?.reason == .currencyMismatch && purchase?.code == .failedPrecondition)
        #expect(purchase?.message.hasPrefix(wording) == true, "\(String(describing: purchase))")
        let dollars = try await h.account(funds: 1_000)
        let asked = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: dollars.id, phoneNumbers: ["+14155550100"], country: "US", currency: "EUR"))
        }
        #expect(asked?.reason == .currencyMismatch)
        // In the words AddFunds uses for the same mistake (it said "currency EUR does not match the account currency").
        #expect(asked?.message == "the account's currency is USD, not EUR", "\(String(describing: asked))")
        #expect(h.provider.calls(.buy) == 0)
        try await h.check()
    }

    @Test("purchase input errors charge nothing and reach no provider", arguments: StoreKind.allCases)
    func purchaseValidation(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 100_000)
        let cases: [(PurchaseRequest, NumberError.Code)] = [
            (PurchaseRequest(accountId: account.id, phoneNumbers: [], country: "US"), .invalidArgument),
            (PurchaseRequest(accountId: account.id, phoneNumbers: ["4155550100"], country: "US"), .invalidArgument),
            (PurchaseRequest(accountId: account.id, phoneNumbers: ["+04155550100"], country: "US"), .invalidArgument),
            (
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+1415555010012345"], country: "US"),
                .invalidArgument
            ),
            (
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100", "+14155550100"], country: "US"),
                .invalidArgument
            ),
            (PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100"], country: "us"), .invalidArgument),
            (PurchaseRequest(accountId: "ACC_000000000000", phoneNumbers: ["+14155550100"], country: "US"), .notFound),
            (
                PurchaseRequest(
                    accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", trunkId: "TRK_000000000000"),
                .notFound
            ),
        ]
        for (request, code) in cases {
            let error = await numberError { _ = try await h.service.purchase(request) }
            #expect(error?.code == code, "\(request.phoneNumbers)")
        }
        let tooMany = (0..<21).map { "+1415555\(String(format: "%04d", $0))" }
        let limit = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: tooMany, country: "US"))
        }
        #expect(limit?.reason == .limitExceeded && limit?.details["max"] == "20")
        #expect(limit?.details["field"] == "numbers", "the proto's field, not the Swift property phoneNumbers")
        // The number listed twice is named (the message said only "a number appears twice", of up to 20).
        let twice = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(
                    accountId: account.id, phoneNumbers: ["+14155550101", "+14155550102", "+14155550101"],
                    country: "US"))
        }
        #expect(twice?.message == "+14155550101 appears twice", "\(String(describing: twice))")
        #expect(h.provider.calls(.buy) == 0)
        #expect(try h.service.balance(accountId: account.id).balance == 100_000)
        let twenty = Array(tooMany.prefix(20))
        let bought = try await h.buy(twenty, for: account.id)
        #expect(bought.numbers.count == 20)
        try await h.check()
    }

    @Test("insufficient balance fails with the shortfall and records nothing", arguments: StoreKind.allCases)
    func insufficientBalance(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 200)
        h.provider.stock(["+14155550100", "+14155550101"])
        let eventsBefore = h.service.durableState().eventCount
        let error = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100", "+14155550101"], country: "US"))
        }
        #expect(error?.code == .failedPrecondition && error?.reason == .insufficientBalance)
        #expect(error?.details == ["required": "266", "available": "200", "shortfall": "66", "currency": "USD"])
        // People read the message: major units (it said "266 USD required, 200 available").
        #expect(error?.message == "insufficient balance: 2.66 USD required, 2.00 USD available")
        #expect(h.service.durableState().eventCount == eventsBefore)
        #expect(h.provider.calls(.buy) == 0)
        try await h.check()
    }

    @Test("a number owned by another account, or gone at the provider, is unavailable", arguments: StoreKind.allCases)
    func unavailable(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let first = try await h.account(funds: 1_000)
        let second = try await h.account(funds: 1_000, name: "Second")
        _ = try await h.buy(["+14155550100"], for: first.id)
        let taken = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: second.id, phoneNumbers: ["+14155550100"], country: "US"))
        }
        #expect(taken?.reason == .numberUnavailable && taken?.details["phoneNumber"] == "+14155550100")
        let notStocked = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: second.id, phoneNumbers: ["+14155550199"], country: "US"))
        }
        #expect(notStocked?.reason == .numberUnavailable && notStocked?.code == .failedPrecondition)
        #expect(
            try h.service.balance(accountId: second.id)
                == BalanceSummary(
                    accountId: second.id, balance: 1_000, held: 0, available: 1_000, currency: "USD"))
        #expect(try h.service.listTransactions(accountId: second.id).total == 1)
        try await h.check()
    }

    /// A review: the purchase checked the account's status before looking its key up, so a retry racing its first
    /// attempt got ACCOUNT_INACTIVE — "not bought" — for an account suspended meanwhile, while the first attempt
    /// bought and committed. A later review: any refusal of the retry's own checks (the balance held meanwhile by
    /// another purchase, the number reserved, the price refreshed) could be made untrue by the first attempt going on,
    /// since nothing marked the key before the first attempt's intent. One attempt under a key runs at a time now; a
    /// retry meanwhile is REQUEST_IN_PROGRESS, and the client library waits and asks again.
    @Test("a retry while its first attempt still checks gets REQUEST_IN_PROGRESS, whatever its own checks would say")
    func retryRacingItsFirstAttempt() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "order-7")
        // The first attempt waits at the provider in its checks, before its intent.
        h.provider.inject(.hangThenDo(gate: "first-checking"), on: .search, times: 1)
        let first = Task { try await h.service.purchase(request) }
        await h.provider.waitUntilReached("first-checking")
        // Meanwhile its own checks would refuse a retry: the account suspended.
        _ = try await h.service.setAccountStatus(account.id, .suspended)
        let retried = await numberError { _ = try await h.service.purchase(request) }
        #expect(retried?.reason == .requestInProgress, "\(String(describing: retried))")
        h.provider.resume("first-checking")
        // The first attempt, past its account check before the suspension, buys.
        let bought = await numberError { _ = try await first.value }
        #expect(bought == nil || bought?.reason == .accountInactive, "\(String(describing: bought))")
        // Another key is not held back by this one.
        var other = request
        other.idempotencyKey = "order-8"
        let otherError = await numberError { _ = try await h.service.purchase(other) }
        #expect(otherError?.reason != .requestInProgress, "\(String(describing: otherError))")
        try await h.check()
    }

    @Test(
        "a retried purchase with the same key returns the first result, even after a restart",
        arguments: StoreKind.allCases)
    func purchaseIdempotency(kind: StoreKind) async throws {
        var h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100", "+14155550101"])
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "order-42")
        let first = try await h.service.purchase(request)
        #expect(!first.replayed)
        let retry = try await h.service.purchase(request)
        #expect(retry.replayed && retry.numbers == first.numbers && retry.transactions == first.transactions)
        try await h.restart()
        let afterRestart = try await h.service.purchase(request)
        #expect(afterRestart.replayed && afterRestart.numbers.map(\.id) == first.numbers.map(\.id))
        var other = request
        other.phoneNumbers = ["+14155550101"]
        let reused = await numberError { _ = try await h.service.purchase(other) }
        #expect(reused?.reason == .idempotencyKeyReused)
        #expect(h.provider.buyCount("+14155550100") == 1 && h.provider.calls(.buy) == 1)
        #expect(try h.service.balance(accountId: account.id).balance == 1_000 - 133)
        try await h.check()
    }

    @Test("a failed purchase frees its idempotency key for a retry", arguments: StoreKind.allCases)
    func failedPurchaseFreesKey(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        h.provider.stock(["+14155550100"])
        h.provider.inject(.fail(.unavailable), on: .buy)
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+14155550100"], country: "US", idempotencyKey: "k")
        let error = await numberError { _ = try await h.service.purchase(request) }
        #expect(error?.code == .unavailable)
        let retry = try await h.service.purchase(request)
        #expect(!retry.replayed && retry.numbers.count == 1)
        try await h.check()
    }

    /// Errors about a purchase's numbers named `field=phoneNumbers`, the Swift property, where the proto's field is
    /// `numbers` (RpcStatus says `field` names the field as the proto does, or in camelCase).
    @Test("errors about the list of numbers name the proto's field, numbers", arguments: StoreKind.allCases)
    func numberListFieldName(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 100_000)
        let lists: [[String]] = [[], ["4155550100"], ["+14155550100", "+14155550100"]]
        for phones in lists {
            let error = await numberError {
                _ = try await h.service.purchase(
                    PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
            }
            #expect(error?.reason == .invalidField && error?.details["field"] == "numbers", "\(phones)")
        }
        #expect(h.provider.calls(.buy) == 0)
        try await h.check()
    }

    /// An exploratory run of the CLI: `buy +448082708953` (country US, the default) was refused as not available once
    /// its search was a minute old, and `buy +1415` as not available at all: the provider's look-up answered what the
    /// number alone tells. Adoptions already said it so.
    @Test("a number of another calling code, or a +1 number without its 10 digits, is refused before any look-up")
    func callingCodeAndLengthRefusedAtOnce() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 10_000)
        let cases: [(phone: String, field: String, says: String)] = [
            ("+448082708953", "country", "is not a number of US (US numbers begin +1, this one +44: GB"),
            ("+1415", "numbers", "+1415 is not a whole US number: +1 numbers have 10 digits after the +1"),
            ("+141598654451234", "numbers", "is not a whole US number"),
        ]
        for (phone, field, says) in cases {
            let refused = await numberError {
                _ = try await h.service.purchase(
                    PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "US"))
            }
            #expect(refused?.code == .invalidArgument && refused?.details["field"] == field, "\(phone)")
            #expect(refused?.message.contains(says) == true, "\(String(describing: refused))")
        }
        #expect(h.provider.calls(.search) == 0 && h.provider.calls(.buy) == 0)
        // A +1 number not on offer as US's may be another +1 country's: said.
        let elsewhere = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+16045550199"], country: "US"))
        }
        #expect(elsewhere?.reason == .numberUnavailable)
        #expect(
            elsewhere?.message.contains("+1 numbers belong to 25 countries: give the number's own if it is not US's")
                == true, "\(String(describing: elsewhere))")
        try await h.check()
    }

    /// A number from a recent search of another country was refused naming `type` ("is a GB local number") when the
    /// request's type was right and its country was not: the field named is now the one that differs — the country
    /// when it does, whatever the type, and the type only when the country matches.
    @Test("a number searched as another country is refused naming country, not type", arguments: StoreKind.allCases)
    func countryMustMatchListing(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        // A CA number shares +1 with US's: only the listing tells them apart.
        h.provider.stock(["+16045550123"], country: "CA")
        h.provider.setPrice(ProviderPrice(country: "CA", type: .local, monthlyCostMicros: 1_000_000, currency: "USD"))
        let found = try await h.service.search(ProviderSearchQuery(country: "CA"))
        #expect(found.numbers.map(\.number.phoneNumber) == ["+16045550123"])
        for type in [NumberType.local, .tollFree] {
            let refused = await numberError {
                _ = try await h.service.purchase(
                    PurchaseRequest(accountId: account.id, phoneNumbers: ["+16045550123"], country: "US", type: type))
            }
            #expect(refused?.code == .invalidArgument && refused?.details["field"] == "country", "\(type)")
            #expect(refused?.message.contains("is a CA number") == true, "\(String(describing: refused))")
        }
        #expect(h.provider.calls(.buy) == 0)
        try await h.check()
    }

    @Test("a number seen in a search must be bought as its own country and type", arguments: StoreKind.allCases)
    func typeMustMatchListing(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        h.provider.stock(["+18005550100"], type: .tollFree)
        let found = try await h.service.search(ProviderSearchQuery(country: "US", type: .tollFree))
        #expect(found.numbers.first?.price == PricingPolicy.Quote(setupFee: 200, monthlyFee: 248, currency: "USD"))
        let asLocal = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+18005550100"], country: "US", type: .local))
        }
        #expect(asLocal?.code == .invalidArgument && asLocal?.details["field"] == "type")
        let bought = try await h.service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+18005550100"], country: "US", type: .tollFree))
        #expect(bought.transactions[0].amount == -448 && bought.numbers[0].type == .tollFree)
        try await h.check()
    }

    @Test("the numbers-per-account limit, at its edge", arguments: StoreKind.allCases)
    func numbersPerAccount(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.numbersPerAccountMax = 2
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 10_000)
        let bought = try await h.buy(["+14155550100", "+14155550101"], for: account.id)
        let third = await numberError { _ = try await h.buy(["+14155550102"], for: account.id) }
        #expect(third?.code == .resourceExhausted)
        _ = try await h.service.release(accountId: account.id, numberId: bought.numbers[0].id)
        _ = try await h.buy(["+14155550102"], for: account.id)
        try await h.check()
    }

    /// Before, the limit counted only numbers already bought, so purchases in flight at once each saw room for
    /// themselves and the account ended above its maximum.
    @Test("the numbers-per-account limit counts purchases in progress", arguments: StoreKind.allCases)
    func numbersPerAccountCountsPurchasesInProgress(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.numbersPerAccountMax = 2
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 10_000)
        h.provider.stock(["+14155550100", "+14155550101", "+14155550102"])
        h.provider.inject(.hangThenDo(gate: "buy"), on: .buy, phoneNumber: "+14155550100")
        let first = Task {
            try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550100"], country: "US"))
        }
        await h.provider.waitUntilReached("buy")
        // One held by the purchase at the provider: one more fits, a second does not.
        _ = try await h.service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550101"], country: "US"))
        let third = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+14155550102"], country: "US"))
        }
        #expect(third?.code == .resourceExhausted && third?.reason == .limitExceeded)
        h.provider.resume("buy")
        _ = try await first.value
        #expect(try h.service.listNumbers(ListNumbersRequest(accountId: account.id)).total == 2)
        try await h.check()
    }

    @Test("a suspended account cannot buy", arguments: StoreKind.allCases)
    func suspended(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        _ = try await h.service.setAccountStatus(account.id, .suspended)
        let error = await numberError { _ = try await h.buy(["+14155550100"], for: account.id) }
        #expect(error?.reason == .accountInactive)
        try await h.check()
    }

    @Test(
        "a suspended account cannot release, and a dry run says so instead of showing a refund",
        arguments: StoreKind.allCases)
    func suspendedRelease(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 1_000)
        let number = try await h.buy(["+14155550100"], for: account.id).numbers[0]
        _ = try await h.service.setAccountStatus(account.id, .suspended)
        for dryRun in [true, false] {
            let error = await numberError {
                _ = try await h.service.release(accountId: account.id, numberId: number.id, dryRun: dryRun)
            }
            #expect(error?.reason == .accountInactive, "dry run \(dryRun)")
        }
        #expect(h.provider.ownedPhoneNumbers == ["+14155550100"])
        try await h.check()
    }

    @Test(
        "a key revoked while its purchase is at the provider buys nothing: the hold opens only for an active key",
        arguments: StoreKind.allCases)
    func keyRevokedMidPurchase(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        let key = try await h.service.createApiKey(name: "service", scope: .account, accountId: account.id).key
        let phone = "+14155550100"
        h.provider.stock([phone])
        // Not searched before: the purchase looks the number up at the provider first, and waits there.
        h.provider.inject(.hangAfter(gate: "search"), on: .search)
        let purchase = Task {
            try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "US", authorizedBy: key.id))
        }
        await h.provider.waitUntilReached("search")
        _ = try await h.service.revokeApiKey(keyId: key.id)
        h.provider.resume("search")
        let error = await numberError { _ = try await purchase.value }
        #expect(error?.code == .unauthenticated && error?.reason == .invalidCredentials)
        #expect(h.provider.calls(.buy) == 0)
        #expect(try h.service.balance(accountId: account.id).balance == 10_000)
        // An active key buys as before.
        let other = try await h.service.createApiKey(name: "other", scope: .account, accountId: account.id).key
        let bought = try await h.service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "US", authorizedBy: other.id))
        #expect(bought.numbers.count == 1)
        try await h.check()
    }

    /// Two calls under one key at once (a client's retry racing its first attempt): the later is REQUEST_IN_PROGRESS
    /// at once, without asking the provider; the earlier buys; a call after it gets that purchase. Before, the later
    /// ran its own checks, and its search, finding the number gone to the earlier, said NUMBER_UNAVAILABLE unless it
    /// looked the key up again.
    @Test(
        "two keyed calls at once: the later is REQUEST_IN_PROGRESS, the earlier buys, a later retry gets its purchase",
        arguments: StoreKind.allCases)
    func retryRefusedBecauseItsFirstAttemptBought(kind: StoreKind) async throws {
        let h = try await Harness(kind)
        let account = try await h.account(funds: 10_000)
        let phone = "+14155550100"
        h.provider.stock([phone])
        let request = PurchaseRequest(accountId: account.id, phoneNumbers: [phone], country: "US", idempotencyKey: "K")
        h.provider.inject(.hangThenDo(gate: "earlier"), on: .search)
        let earlier = Task { try await h.service.purchase(request) }
        await h.provider.waitUntilReached("earlier")
        let searches = h.provider.calls(.search)
        let later = await numberError { _ = try await h.service.purchase(request) }
        #expect(later?.reason == .requestInProgress, "\(String(describing: later))")
        #expect(h.provider.calls(.search) == searches, "the later call asked the provider nothing")
        h.provider.resume("earlier")
        let first = try await earlier.value
        #expect(!first.replayed)
        let answer = try await h.service.purchase(request)
        #expect(answer.replayed && answer.numbers.map(\.id) == first.numbers.map(\.id))
        #expect(h.provider.calls(.buy) == 1)
        try await h.check()
    }
}
