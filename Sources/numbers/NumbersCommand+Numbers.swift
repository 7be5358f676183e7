import ArgumentParser
import Foundation
import NumberAPI
import NumberClient

enum NumberKind: String, ExpressibleByArgument, CaseIterable {
    case local, tollFree = "toll-free", mobile

    var api: NumberType {
        switch self {
        case .local: return .local
        case .tollFree: return .tollFree
        case .mobile: return .mobile
        }
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search the carrier's available numbers, with our prices.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "ISO country code.") var country: String = "US"
    @Option(name: .customLong("area-code"), help: "3 digits; US and CA numbers only (elsewhere: --contains +4420).")
    var areaCode: String?
    @Option(
        help: """
            Digits or letters (keypad) the number must contain, at least 2; * (any one digit) only at either end; a \
            leading + anchors it at the number's start, country code first (+1415, +4420).
            """)
    var contains: String?
    @Option(help: "Only numbers in this region, state or province (CA).") var region: String?
    @Option(help: "Only numbers in this locality (a city: San Francisco).") var locality: String?
    @Option(name: .customLong("postal-code"), help: "Only numbers of this postal code (94105).") var postalCode: String?
    @Option(help: "local, toll-free or mobile.") var type: NumberKind = .local
    @Flag(help: "Only numbers with voice.") var voice = false
    @Flag(help: "Only numbers with SMS.") var sms = false
    @Flag(help: "Only numbers with MMS.") var mms = false
    // Unconditional: `--limit -1` is the option's value, refused below, not a "missing value" beside an unknown flag.
    @Option(
        parsing: .unconditional, help: "Most results, 1...100 (default 20); Twilio answers a search with at most 30.")
    var limit: Int32 = 20

    /// 0 was sent as the proto's unset value, and the server's default of 20 came back.
    func validate() throws {
        guard (1...100).contains(limit) else { throw ValidationError("--limit takes 1...100, not \(limit)") }
    }

    func run() async throws {
        try await reporting {
            let request = SearchNumbersRequest(
                accountId: global.accountId, country: country, type: type.api, areaCode: areaCode ?? "",
                contains: contains ?? "", region: region ?? "", locality: locality ?? "", postalCode: postalCode ?? "",
                requiredCapabilities: Capabilities(voice: voice, sms: sms, mms: mms), limit: limit)
            let response = try await global.withClient { try await $0.searchNumbers(request) }
            try global.output(response) {
                Format.table(
                    ["NUMBER", "LOCALITY", "REGION", "CAPABILITIES", "SETUP", "MONTHLY"],
                    response.numbers.map {
                        [
                            $0.phoneNumber, $0.locality, $0.region, Format.capabilities($0.capabilities),
                            Format.money($0.pricing.setupFee, $0.pricing.currency),
                            Format.money($0.pricing.monthlyFee, $0.pricing.currency),
                        ]
                    })
                let found = "\(response.totalFound)\(response.totalFoundIsLowerBound ? "+" : "")"
                print("\(response.numbers.count) shown, \(found) found")
            }
        }
    }
}

struct Buy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Buy numbers (all or nothing): setup fee + first month from the balance.",
        discussion: """
            --max-monthly-fee and --max-setup-fee protect against a price that changed since the search: a number \
            whose current price is above either is not bought (PRICE_CHANGED, exit 5, nothing charged), and at or \
            below them the current price is charged. They are amounts of --currency, which they require. --voice, \
            --sms and --mms refuse the purchase (exit 5, nothing bought) unless every number has that capability; \
            --currency refuses it unless it is the account's.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "E.164 numbers, e.g. +14155550100.") var numbers: [String]
    @Option(help: "Assign to this trunk TRK_….") var trunk: String?
    @Option(help: "ISO country code of the numbers.") var country: String = "US"
    @Option(help: "local, toll-free or mobile.") var type: NumberKind = .local
    @Flag(help: "Every number must have voice.") var voice = false
    @Flag(help: "Every number must have SMS.") var sms = false
    @Flag(help: "Every number must have MMS.") var mms = false
    @Option(
        help: """
            The account's currency (ISO 4217, e.g. USD): the purchase is refused if it is another. Required with \
            --max-monthly-fee or --max-setup-fee, whose amounts are in it.
            """)
    var currency: String?
    @Option(name: .customLong("idempotency-key"), help: UnknownOutcome.keyHelp) var idempotencyKey: String?
    @Option(
        name: .customLong("max-monthly-fee"), parsing: .unconditional,
        help: "At most this monthly fee per number, in --currency's major units, as search shows it.")
    var maxMonthlyFee: String?
    @Option(
        name: .customLong("max-setup-fee"), parsing: .unconditional,
        help: "At most this setup fee per number, in --currency's major units, as search shows it.")
    var maxSetupFee: String?

    /// A price limit without `--currency` is a usage error (64), nothing sent: read in whatever currency the account
    /// has and sent with it, a limit meant in dollars capped a KWD account's fees at as many dinars, and no check could
    /// refuse it.
    func validate() throws {
        try Self.requireCurrency(currency, forLimits: maxMonthlyFee, maxSetupFee)
    }

    /// Refuses price limits given without `--currency` (usage, 64).
    static func requireCurrency(_ currency: String?, forLimits limits: String?...) throws {
        if currency == nil, limits.contains(where: { $0 != nil }) {
            throw ValidationError(
                "--max-monthly-fee and --max-setup-fee are amounts of --currency: give it too, the account's currency "
                    + "as search shows it (e.g. --currency USD)")
        }
    }

    func run() async throws {
        try await reporting {
            let request = try purchaseRequest()
            let key = idempotencyKey ?? NumbersClient.newIdempotencyKey()
            let response = try await global.withClient { client in
                do {
                    return try await UnknownOutcome.advising(idempotencyKey: key, account: global.accountId) {
                        try await client.purchaseNumbers(request, options: CallOptions(idempotencyKey: key))
                    }
                } catch let error as RPCError where error.reason == "PRICE_CHANGED" {
                    throw CLIError(
                        code: CLIError.exitCode(for: error), message: Self.priceChanged(error), status: error)
                }
            }
            let unwritten = UnknownOutcome.rerunToSee("the purchase", idempotencyKey: key, account: global.accountId)
            try global.output(response, unwritten: unwritten) {
                Format.table(
                    ["ID", "NUMBER", "TRUNK", "CHARGED", "NEXT BILLING"],
                    response.numbers.map {
                        [
                            $0.number.id, $0.number.phoneNumber,
                            Format.trunk(id: $0.number.trunkId, name: $0.number.trunkName),
                            Format.money($0.transaction.amount, $0.transaction.currency),
                            Format.date($0.number.nextBillingDate),
                        ]
                    })
                print(
                    "\(response.message): charged \(Format.money(response.totalCharged, response.currency)), "
                        + "\(Format.balanceLabel(replayed: response.replayed)) "
                        + Format.money(response.balanceAfter, response.currency))
                if response.replayed { print(Format.replayNote("purchase")) }
            }
        }
    }

    /// The request, with the price limits in minor units of `--currency` (upper-cased, as numberd keeps codes, so a
    /// typed `kwd` reads three decimals, not two), sent with them so the server refuses them unless it is the
    /// account's (`CURRENCY_MISMATCH`).
    func purchaseRequest() throws -> PurchaseNumbersRequest {
        let currency = self.currency?.uppercased() ?? ""
        var request = PurchaseNumbersRequest(
            accountId: global.accountId, country: country, numbers: numbers, voice: voice, sms: sms,
            currency: currency, trunkId: trunk, mms: mms, type: type.api)
        request.maxMonthlyFee = try Self.limit(maxMonthlyFee, "--max-monthly-fee", currency)
        request.maxSetupFee = try Self.limit(maxSetupFee, "--max-setup-fee", currency)
        return request
    }

    /// A price limit flag's amount in minor units of `currency`; nil when the flag is absent.
    static func limit(_ text: String?, _ flag: String, _ currency: String) throws -> Int64? {
        guard let text else { return nil }
        guard !text.hasPrefix("-") else {
            throw CLIError(code: 3, message: "error: \(flag) '\(text)' is negative: a fee limit is 0 or more")
        }
        guard let minor = Format.minorUnits(text, currency: currency) else {
            // An amount no 64 bits of minor units hold is said so, as `funds add` says it: it is an amount.
            let huge = CurrencyMinorUnits.parsed(text, currency: currency) == .failure(.tooLarge)
            throw CLIError(
                code: 3,
                message: huge
                    ? "error: \(flag) '\(text)' is too large an amount of \(currency): leave the flag out for no limit"
                    : "error: \(flag) '\(text)' is not an amount of \(currency) in its major units, with at most "
                        + "its minor digits (1.33 USD; 150 JPY)")
        }
        return minor
    }

    /// The refusal, then the current price in the flags' form, so the operator can decide to buy (or, as `adopt` says
    /// it, to do what `action` says) at it.
    static func priceChanged(
        _ error: RPCError, price: String = "the current price per number", undone: String = "nothing was bought",
        action: String = "To buy at it"
    ) -> String {
        let currency = error.details["currency"] ?? ""
        let fees = ["monthlyFee", "setupFee"].map { name in
            error.details[name].flatMap { Int64($0) }.map { Format.money($0, currency) } ?? "?"
        }
        let flags = fees.map { $0.split(separator: " ").first.map(String.init) ?? $0 }
        return """
            \(Format.error(error))
            \(price) is \(fees[0]) a month and \(fees[1]) setup; \(undone) or charged. \
            \(action): --max-monthly-fee \(flags[0]) --max-setup-fee \(flags[1]) --currency \(currency)
            """
    }
}

/// What `numbers adopt` charges (`--charge`): no default, the operator chooses.
enum ChargeOption: String, ExpressibleByArgument, CaseIterable {
    case full, firstMonth = "first-month"

    var api: AdoptionCharge {
        switch self {
        case .full: return .full
        case .firstMonth: return .firstMonth
        }
    }
}

struct Adopt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give an account a number Twilio has and no account holds: the audit's unowned (admin).",
        discussion: """
            For a number `numbers audit` lists as unowned: a customer's number lost when numberd's store was restored \
            from an older backup, or one bought in Twilio's console. The account (--account, required) is charged at \
            the current price of the number's --country and --type, as --charge says (full: setup fee and first month, \
            as buy charges; first-month: the first month only, no setup fee), and the number's first cycle starts now. \
            With --trunk numberd routes it to that trunk of the account at Twilio before it records it; without, it \
            keeps Twilio's routing — no trunk, or the account's trunk with that SID — and refuses one on a trunk the \
            account does not have (exit 4, TRUNK_NOT_FOUND: register it with trunks create --sid, or name a trunk). \
            Nothing is done when it is refused before the routing: an account that cannot pay (exit 5, \
            INSUFFICIENT_BALANCE), a number Twilio's account does not have (exit 4), one an account holds, a purchase \
            reserves or numberd is releasing, one numberd watches after a failed purchase until its orphan sweep ends \
            the watch, or one an adoption for another account or trunk routed without an answer, until that routing \
            can no longer land (exit 5, NUMBER_UNAVAILABLE), a price above --max-monthly-fee or --max-setup-fee \
            (exit 5, PRICE_CHANGED; their amounts are of --currency, which they require and which must be the \
            account's). A routing Twilio does not answer (exit 7, PROVIDER_UNAVAILABLE, naming the trunk) is the \
            exception: the adoption is not recorded, but the routing is, and is held while it may still land \
            (numberd's in-flight horizon and an hour): until then only an adoption for the same account on the same \
            --trunk is taken (run it again so), and no purchase of the number nor deletion of that trunk. One Twilio \
            answers with its own server error is looked up: shown on the trunk, the adoption goes on; otherwise it is \
            held as one Twilio did not answer (its list can lag a change). A refusal after the routing was made (the account \
            suspended or drained, or numberd's disk full, during that call) records no adoption and says the number is \
            routed to the trunk at Twilio since, and stays so. After an unknown outcome (exit 10) run it again with \
            the --idempotency-key it prints: numberd answers with the adoption made under it, nothing charged twice. \
            Without the key (or once numberd no longer keeps it), a number given already is refused \
            NUMBER_UNAVAILABLE, "this account owns it already" (exit 5), and numbers list shows it (no other refusal \
            says it was given); while another adoption of the number still runs, it is refused REQUEST_IN_PROGRESS \
            (exit 10, nothing done): run it again a moment later.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The number, E.164 as the audit lists it, e.g. +14155550100.") var number: String
    @Option(help: "ISO country code of the number: with --type, what it is priced as (required).") var country: String
    @Option(help: "local, toll-free or mobile: checked against Twilio's typed lists.") var type: NumberKind = .local
    @Option(help: "What the account is charged (required): full = setup fee + first month; first-month = no setup fee.")
    var charge: ChargeOption
    @Option(help: "Route it to this trunk TRK_… of the account (default: keep Twilio's routing).") var trunk: String?
    @Option(
        help: """
            The account's currency (ISO 4217, e.g. USD): required with --max-monthly-fee or --max-setup-fee, whose \
            amounts are in it; nothing is sent unless it is the account's.
            """)
    var currency: String?
    @Option(
        name: .customLong("max-monthly-fee"), parsing: .unconditional,
        help: "At most this monthly fee, in --currency's major units.")
    var maxMonthlyFee: String?
    @Option(
        name: .customLong("max-setup-fee"), parsing: .unconditional,
        help: "At most this setup fee, in --currency's major units.")
    var maxSetupFee: String?
    @Option(name: .customLong("idempotency-key"), help: UnknownOutcome.keyHelp) var idempotencyKey: String?

    /// Usage errors (64), nothing sent: no account (an admin key names the one it acts on, and this one is charged),
    /// a price limit without `--currency` (as `buy`).
    func validate() throws {
        if global.accountId.isEmpty {
            throw ValidationError(
                "--account ACC_… (or NUMBERS_ACCOUNT) is required: the account given the number, and charged for it")
        }
        try Buy.requireCurrency(currency, forLimits: maxMonthlyFee, maxSetupFee)
    }

    func run() async throws {
        try await reporting {
            let code = currency?.uppercased() ?? ""
            var request = AdoptNumberRequest(
                accountId: global.accountId, phoneNumber: number, country: country, type: type.api, trunkId: trunk,
                charge: charge.api)
            request.maxMonthlyFee = try Buy.limit(maxMonthlyFee, "--max-monthly-fee", code)
            request.maxSetupFee = try Buy.limit(maxSetupFee, "--max-setup-fee", code)
            let key = idempotencyKey ?? NumbersClient.newIdempotencyKey()
            let response = try await global.withClient { client in
                // The request has no currency for numberd to check the limits' against: checked here, before it is
                // sent (an account's currency never changes).
                if currency != nil {
                    let account = try await Funds.account(global, client)
                    guard account.currency == code else {
                        throw CLIError(
                            code: 5,
                            message: "error: the account \(account.id) holds \(account.currency), not \(code): "
                                + "--currency must be the account's; nothing was sent")
                    }
                }
                do {
                    return try await UnknownOutcome.advising(idempotencyKey: key, account: global.accountId) {
                        try await client.adoptNumber(request, options: CallOptions(idempotencyKey: key))
                    }
                } catch let error as RPCError where error.reason == "PRICE_CHANGED" {
                    throw CLIError(
                        code: CLIError.exitCode(for: error), message: Self.priceChanged(error), status: error)
                }
            }
            let unwritten = UnknownOutcome.rerunToSee("the adoption", idempotencyKey: key, account: global.accountId)
            try global.output(response, unwritten: unwritten) {
                let (adopted, transaction) = (response.number, response.transaction)
                print(
                    "adopted \(adopted.phoneNumber) as \(adopted.id) for \(global.accountId): charged "
                        + "\(Format.money(transaction.amount, transaction.currency)), "
                        + "\(Format.balanceLabel(replayed: response.replayed)) "
                        + Format.money(response.balanceAfter, response.currency))
                let pricing = adopted.pricing
                let trunk = Format.trunk(id: adopted.trunkId, name: adopted.trunkName)
                print(
                    Format.visible(
                        "  setup fee \(Format.money(pricing.setupFee, pricing.currency)), monthly fee "
                            + "\(Format.money(pricing.monthlyFee, pricing.currency)); first cycle from "
                            + "\(Format.date(adopted.purchasedAt)), next billing "
                            + "\(Format.date(adopted.nextBillingDate)); trunk \(trunk)"))
                if response.replayed { print(Format.replayNote("adoption")) }
            }
        }
    }

    /// The refusal, then the current price (as `--charge` counts it) in the flags' form, so the operator can decide to
    /// adopt at it.
    static func priceChanged(_ error: RPCError) -> String {
        Buy.priceChanged(
            error, price: "the current price", undone: "nothing was given", action: "To adopt at it")
    }
}

enum StatusFilter: String, ExpressibleByArgument, CaseIterable {
    case active, pastDue = "past-due", releasing, released

    var api: NumberStatus {
        switch self {
        case .active: return .active
        case .pastDue: return .pastDue
        case .releasing: return .releasing
        case .released: return .released
        }
    }
}

extension PhoneNumber {
    /// Whether it is still billed each month: not releasing (its release asked for, not yet confirmed by Twilio) or
    /// released. A value this CLI does not know (a newer server's) is shown as billed, as the server counts it.
    var isBilled: Bool { status != .releasing && status != .released }

    /// The next billing date as shown: `-` for a number that is no longer billed (releasing or released), whose
    /// stored date is only the end of its last paid cycle.
    var nextBillingShown: String { isBilled ? Format.date(nextBillingDate) : "-" }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The account's numbers and their monthly cost.")
    @OptionGroup var global: GlobalOptions
    @Option(
        help: """
            active, past-due, releasing (asked to be released, not yet confirmed by Twilio: not billed) or released \
            (default: all not released, releasing ones included).
            """)
    var status: StatusFilter?
    @Option(help: "Only numbers on this trunk.") var trunk: String?
    @OptionGroup var page: PageSizeOption
    @Option(name: .customLong("page-token"), help: "From the previous page, with the same --status and --trunk.")
    var pageToken: String?

    func run() async throws {
        try await reporting {
            let request = ListNumbersRequest(
                accountId: global.accountId, status: status?.api ?? .unspecified, trunkId: trunk,
                pageSize: page.pageSize,
                pageToken: pageToken ?? "")
            let response = try await global.withClient { try await $0.listNumbers(request) }
            try global.output(response) {
                Format.table(
                    ["ID", "NUMBER", "STATUS", "TRUNK", "MONTHLY", "NEXT BILLING"],
                    response.numbers.map {
                        [
                            $0.id, $0.phoneNumber, Format.name($0.status, dropping: "NUMBER_STATUS_"),
                            Format.trunk(id: $0.trunkId, name: $0.trunkName),
                            Format.money($0.pricing.monthlyFee, $0.pricing.currency),
                            $0.nextBillingShown,
                        ]
                    })
                // The monthly cost counts only billed numbers: a releasing one is listed but costs nothing a month.
                print(
                    Format.count(response.total, "number") + ", "
                        + "\(Format.money(response.monthlyCost, response.currency)) per month")
                let releasing = response.numbers.filter { $0.status == .releasing }.count
                if releasing > 0 {
                    print(
                        "\(releasing) releasing on this page: not billed; any refund (of paid days) is credited when Twilio confirms the release"
                    )
                }
                let graceEnds = response.numbers.compactMap(\.graceEndsAt)
                if let first = graceEnds.min() {
                    print(
                        "\(graceEnds.count) past due on this page: each released, refunding nothing, when its grace period ends unless the account's funds renew it — the first \(Format.date(first)) (numbers show NUM_… says when)"
                    )
                }
                if !response.nextPageToken.isEmpty {
                    // The token is its filters' and its account's own: the hint repeats them as given.
                    print(Format.moreHint(response.nextPageToken, filterArguments + global.accountArguments))
                }
            }
        }
    }

    /// The filters as given, to repeat them with the next page's token (numberd refuses a token with others):
    /// e.g. `["--status", "past-due", "--trunk", "TRK_1"]`.
    var filterArguments: [String] {
        [("--status", status?.rawValue), ("--trunk", trunk)].flatMap { name, value in value.map { [name, $0] } ?? [] }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One number in detail.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "NUM_…, or the E.164 number the account holds now (+14155550100).") var id: String

    func run() async throws {
        try await reporting {
            let response = try await global.withClient {
                try await $0.getNumber(GetNumberRequest(accountId: global.accountId, numberId: id))
            }
            try global.output(response) { printNumber(response.number) }
        }
    }
}

func printNumber(_ n: PhoneNumber) {
    let rows: [(String, String)] = [
        ("id", n.id), ("number", n.phoneNumber), ("name", n.friendlyName),
        ("status", Format.name(n.status, dropping: "NUMBER_STATUS_")),
        ("type", Format.name(n.type, dropping: "NUMBER_TYPE_")),
        ("location", [n.locality, n.region, n.postalCode, n.country].filter { !$0.isEmpty }.joined(separator: ", ")),
        ("capabilities", Format.capabilities(n.capabilities)),
        ("trunk", Format.trunk(id: n.trunkId, name: n.trunkName)),
        (
            "trunk change",
            n.pendingTrunkChange.map { change in
                (change.trunkId.map { "to \($0)" } ?? "off its trunk") + ", asked \(Format.date(change.requestedAt)); "
                    + (change.trunkId == n.trunkId
                        ? "recorded, but a change sent without an answer may still land" : "outcome not recorded yet")
                    + " (reconciliation settles it)"
            } ?? "-"
        ),
        ("setup fee", Format.money(n.pricing.setupFee, n.pricing.currency)),
        ("monthly fee", Format.money(n.pricing.monthlyFee, n.pricing.currency)),
        ("billing cycle", Format.name(n.billingCycle, dropping: "BILLING_CYCLE_")),
        ("purchased", Format.date(n.purchasedAt)), ("next billing", n.nextBillingShown),
        ("release asked", Format.date(n.releaseRequestedAt)), ("released", Format.date(n.releasedAt)),
    ]
    // Past due only: when the grace period ends, and what happens then.
    let grace =
        n.graceEndsAt.map { ends in
            [
                (
                    "grace ends",
                    "\(Format.date(ends)): the next billing run after it releases the number, refunding nothing, unless "
                        + "the account's funds renew it first (numberd's downtime moves it on)"
                )
            ]
        } ?? []
    for (label, value) in rows + grace {
        print("\(label.padding(toLength: 13, withPad: " ", startingAt: 0)) \(Format.visible(value))")
    }
}

struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release a number for good, with a prorated refund; shows the refund and asks first.",
        discussion: """
            The question goes to stderr and its answer is read from stdin: anything but 'yes' (or end of input) \
            releases nothing and exits 1; Ctrl-C at the question exits 130, nothing released.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "NUM_….") var id: String
    @Flag(
        help: """
            Do not ask (and bill whatever billing date has passed by the release: without a question there are no \
            figures to hold it to).
            """)
    var yes = false
    @Flag(name: .customLong("dry-run"), help: "Only show the refund.") var dryRun = false
    @Option(name: .customLong("idempotency-key"), help: UnknownOutcome.keyHelp) var idempotencyKey: String?

    func run() async throws {
        try await reporting {
            try await global.withClient { client in
                let preview = try await Self.preview(client, global.accountId, id, underKey: idempotencyKey)
                // A replay is the release made under the key: its result, not asked again.
                if preview.replayed || dryRun {
                    try global.output(preview) { printRelease(preview) }
                    return
                }
                if !yes {
                    var refund = Format.money(preview.finalBilling.proratedRefund, preview.finalBilling.currency)
                    if preview.finalBilling.renewalCharge > 0 {
                        let charge = Format.money(preview.finalBilling.renewalCharge, preview.finalBilling.currency)
                        refund += " after a charge of \(charge) for the cycle begun since its billing date"
                    }
                    try Question.confirm(
                        "Release \(preview.phoneNumber) (\(preview.id)) for good? Refund \(refund).",
                        refusal: "not released")
                }
                // Held to the cycle the question's refund was of, so a billing date passing after it (the billing
                // run's renewal, or the release's own) is not charged unseen — or, when it showed none paid (the
                // number going past due), to none, so money arriving since is not spent on a renewal unseen; `--yes`
                // showed nothing to hold to.
                let expected = yes ? nil : preview.finalBilling.nextBillingDate
                let unpaid = !yes && preview.finalBilling.nextBillingDate == nil
                let key = idempotencyKey ?? NumbersClient.newIdempotencyKey()
                let response: ReleaseNumberResponse
                do {
                    response = try await UnknownOutcome.advising(
                        idempotencyKey: key, account: global.accountId, announced: idempotencyKey != nil
                    ) {
                        try await client.releaseNumber(
                            ReleaseNumberRequest(
                                accountId: global.accountId, numberId: id, expectedNextBillingDate: expected,
                                expectNoPaidCycle: unpaid),
                            options: CallOptions(idempotencyKey: key))
                    }
                } catch let error as RPCError where error.reason == "PRICE_CHANGED" {
                    throw CLIError(
                        code: CLIError.exitCode(for: error),
                        message: "not released: the number's billing changed after the question (a billing date "
                            + "passed, or its account can now pay one it could not), so its figures are not the ones "
                            + "shown; run it again to see the new figures", status: error)
                }
                let unwritten = UnknownOutcome.rerunToSee("the release", idempotencyKey: key, account: global.accountId)
                try global.output(response, unwritten: unwritten) { printRelease(response) }
            }
        }
    }
}

extension Release {
    /// The dry run, under `key` when the command reruns one (`--idempotency-key`): the release made under it answers
    /// (`replayed`); while that release still runs the dry run is asked again
    /// (``UnknownOutcome/waitingWhileInProgress(idempotencyKey:account:polls:_:)``: about a minute, then the key's
    /// advice, exit 10).
    static func preview(
        _ client: NumbersClient, _ accountId: String, _ numberId: String, underKey key: String?
    ) async throws -> ReleaseNumberResponse {
        let request = ReleaseNumberRequest(accountId: accountId, numberId: numberId, dryRun: true)
        guard let key else { return try await client.releaseNumber(request) }
        // Said before this first call under the key: a release made under it answers (a replay), and the line is
        // what a rerun needs whatever happens next.
        UnknownOutcome.announce(idempotencyKey: key, account: accountId)
        do {
            return try await UnknownOutcome.waitingWhileInProgress(idempotencyKey: key, account: accountId) {
                try await client.releaseNumber(request, options: CallOptions(idempotencyKey: key))
            }
        } catch let error as RPCError where error.code == .cancelled || UnknownOutcome.covers(error) {
            // Interrupted (or cut off) while asking, rather than in a pause: the dry run changed nothing, but a
            // release an earlier run made under the key may be running or done — the key's advice, and its status.
            throw CLIError(
                code: CLIError.outcomeUnknown,
                message: "\(Format.error(error))\nthis run's dry run changed nothing; an earlier run under the key may "
                    + "have released the number.\n" + UnknownOutcome.advice(idempotencyKey: key, account: accountId),
                status: error)
        }
    }
}

func printRelease(_ r: ReleaseNumberResponse) {
    // A dry run's time is the moment its refund was computed for, not a release.
    print("\(r.message): \(r.phoneNumber) (\(r.id)) \(r.dryRun ? "as of" : "at") \(Format.date(r.releasedAt))")
    if r.replayed { print(Format.replayNote("release")) }
    if r.finalBilling.renewalCharge > 0 {
        print(
            "\(r.dryRun ? "would charge" : "charged") \(Format.money(r.finalBilling.renewalCharge, r.finalBilling.currency)) "
                + "first: its billing date had passed and no billing run had billed the new cycle yet")
    }
    print(
        "refund \(Format.money(r.finalBilling.proratedRefund, r.finalBilling.currency)): \(r.finalBilling.description)")
}

struct TrunkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trunk", abstract: "Route a number to a SIP trunk or take it off.",
        subcommands: [Assign.self, Unassign.self])

    /// The discussion of `assign` and `unassign`: what the `trunk change` line of the output says, and reruns.
    static let changeDiscussion = """
        The change is sent to Twilio (also to the trunk the number is recorded on: that puts back a number Twilio \
        routes elsewhere), then recorded, and the number is printed as recorded. Its trunk change line says "recorded, \
        but a change sent without an answer may still land" when an earlier request of the number (or this one, whose \
        answer was lost and whose look-up showed it made) may still reach Twilio: reconciliation then looks where \
        Twilio routes the number once none can (--reconcile-in-flight-horizon after it). A rerun while a change or \
        release of the number runs is refused ABORTED (exit 5, nothing done): run it again once that has ended. After \
        an unknown outcome (exit 10), run it again to have the number routed as asked.
        """

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers trunk assign NUM_… TRK_…", discussion: TrunkCommand.changeDiscussion)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The number, NUM_….") var number: String
        @Argument(help: "The account's trunk to route it to, TRK_….") var trunk: String

        func run() async throws {
            try await reporting {
                let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.trunkChange) {
                    try await $0.updateNumber(
                        UpdateNumberRequest(accountId: global.accountId, numberId: number, assignTrunkId: trunk))
                }
                try global.output(response) { printNumber(response.number) }
            }
        }
    }

    struct Unassign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "numbers trunk unassign NUM_…", discussion: TrunkCommand.changeDiscussion)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The number, NUM_….") var number: String

        func run() async throws {
            try await reporting {
                let response = try await global.withClient(unkeyedAdvice: UnknownOutcome.Unkeyed.trunkChange) {
                    try await $0.updateNumber(
                        UpdateNumberRequest(accountId: global.accountId, numberId: number, unassignTrunk: true))
                }
                try global.output(response) { printNumber(response.number) }
            }
        }
    }
}
