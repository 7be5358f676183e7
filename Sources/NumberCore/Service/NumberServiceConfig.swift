/// Configuration of ``NumberService``: every limit is a named field with a documented default.
public struct NumberServiceConfig: Sendable, Hashable {
    /// Sizes and counts accepted from callers.
    public struct Limits: Sendable, Hashable {
        /// Most numbers in one purchase. Default 20.
        public var purchaseNumbersMax: Int = 20
        /// Largest search `limit`. Default 100.
        public var searchResultsMax: Int = 100
        /// The search `limit` when the caller gives none (0). 1...`searchResultsMax`; default 20.
        public var searchResultsDefault: Int = 20
        /// Page size when the caller gives none. Default 50.
        public var pageSizeDefault: Int = 50
        /// Largest page size. Default 500.
        public var pageSizeMax: Int = 500
        /// Longest account, trunk or key name, in Unicode scalars. 1...200 (the journal's size estimates take it
        /// at 200 scalars of four bytes). Default 200.
        public var nameLengthMax: Int = 200
        /// Longest provider trunk SID, in Unicode scalars. 1...64. Default 64.
        public var providerSidLengthMax: Int = 64
        /// Longest free-text description (AddFunds, adjustments), in Unicode scalars. 1...500. Default 500.
        public var descriptionLengthMax: Int = 500
        /// Longest search text field (region, locality, postal code). Default 64.
        public var searchFieldLengthMax: Int = 64
        /// Longest `contains` pattern. Default 16.
        public var containsLengthMax: Int = 16
        /// Longest text kept from the provider's answers (a number's friendly name, locality, region and postal
        /// code), in Unicode scalars; longer text is cut to it, control characters are dropped. The provider's text
        /// goes into journal records and answers, so it must be bounded like a caller's. Default 64 (Twilio's own
        /// limit for a friendly name).
        public var providerTextLengthMax: Int = 64
        /// Most trunks per account. Default 1000.
        public var trunksPerAccountMax: Int = 1000
        /// Most trunks numberd creates at the provider for one account (an empty SID in CreateTrunk), counting those
        /// being created: they all live on the one provider account every tenant shares, whose own trunk quota one
        /// tenant must not use up. Trunks registered by their SID (admin) do not count. 1...1000. Default 10.
        public var providerTrunksPerAccountMax: Int = 10
        /// Most trunks on the provider account numberd knows of, a creation past which is refused: every distinct trunk
        /// SID on record, those numberd made and those registered by their SID (a number is routed only to a trunk of
        /// its own account, so they are all there), plus those being created. Twilio's per-account SIP trunk limit is
        /// 100 (raised by asking Twilio): set this to what Twilio allows, less trunks on the account numberd does not
        /// record. Past it CreateTrunk is refused RESOURCE_EXHAUSTED / LIMIT_EXCEEDED before the provider is asked: ten
        /// tenants at their own limit used the quota up, and every later creation reached Twilio and came back
        /// INVALID_ARGUMENT, the customer told that their request was wrong for a quota that is the operator's.
        /// Registering a trunk by SID is never refused for it (nothing is made). 1...100 000. Default 100.
        public var providerTrunksMax: Int = 100
        /// Most numbers per account: those not released, less those being released whose release no running call
        /// still drives (`CoreState.countedForLimit`). Default 10 000.
        public var numbersPerAccountMax: Int = 10_000
        /// Most accounts. Default 1 000 000.
        public var accountsMax: Int = 1_000_000
        /// Most API keys that are not revoked (revoked keys are kept, and listed, but do not count). Default 100 000.
        /// The admin key numberd makes at start-up when `admin.key` no longer works is made past it: refused, the
        /// start failed, and only a running numberd (a key revoked over the API) could have made room.
        public var apiKeysMax: Int = 100_000
        /// Most revoked API keys kept (listed with their revocation time): a revocation past it drops the oldest
        /// revoked keys for good, so the key table holds at most `apiKeysMax` + this (plus any admin keys start-ups
        /// made past `apiKeysMax`). Default 10 000.
        public var revokedApiKeysKeptMax: Int = 10_000
        /// Largest single AddFunds amount, minor units. Default 100 000 000 (1 M USD).
        public var fundsAmountMax: Int64 = 100_000_000
        /// Largest balance, minor units. Default 10 000 000 000 (100 M USD).
        public var balanceMax: Int64 = 10_000_000_000
        /// Most searches one account (or the admin, searching for no account) has at the provider at once; the next
        /// is refused RESOURCE_EXHAUSTED / SEARCHES_BUSY until one ends. Each search is a provider request, and every
        /// account's provider calls — purchases, releases, trunk changes, billing — share one HTTP client (16
        /// transfers, 1 024 queued): without it one account's searches, within its rate limit, filled that queue and
        /// every other account's provider calls failed. 1...1000. Default 8.
        public var searchesInFlightPerAccountMax: Int = 8
        /// Most searches at the provider at once across all accounts, refused the same way past it: at half the HTTP
        /// client's queue, searches alone (128 accounts at their own limit) cannot fill it and fail the purchases,
        /// releases and billing behind them. 1...100 000. Default 512.
        public var searchesInFlightMax: Int = 512
        /// Most purchases of one account checking their numbers at the provider at once, before anything is held (a
        /// search anchored at each number no recent search listed, a look-up of each one that was): the next waits for
        /// one to end, in arrival order. Those are provider requests on the shared HTTP client too, made for purchases
        /// that may then fail and give back their purchase cap. 1...1000. Default 8.
        public var purchaseChecksInFlightPerAccountMax: Int = 8
        /// Most purchases checking their numbers at the provider at once across all accounts (beside the searches'
        /// 512: together under the HTTP client's queue of 1 024). 1...100 000. Default 256.
        public var purchaseChecksInFlightMax: Int = 256
        /// Most purchases of one account waiting for such a slot; past it a purchase is refused RESOURCE_EXHAUSTED /
        /// PURCHASES_BUSY, nothing held, to retry when one has ended. 0...100 000. Default 256.
        public var purchaseChecksWaitingPerAccountMax: Int = 256
        /// Most purchases waiting for such a slot in all, refused the same way past it. 0...1 000 000. Default 4 096.
        public var purchaseChecksWaitingMax: Int = 4096
        /// Most releases and trunk changes of one account at the provider at once, the creations and deletions of the
        /// trunks numberd makes there included (each a request on the shared HTTP client: one tenant releasing
        /// thousands of numbers at once filled its queue, and every other account's provider calls waited behind them
        /// or failed): the next waits for one to end, in arrival order, before anything is recorded. Billing's grace
        /// releases and reconciliation do not count. 1...1000. Default 8.
        public var providerChangesInFlightPerAccountMax: Int = 8
        /// Most releases, trunk changes, and creations and deletions of the trunks numberd makes, at the provider at
        /// once across all accounts (beside the searches' 512 and the purchase checks' 256: together under the HTTP
        /// client's queue of 1 024). 1...100 000. Default 128.
        public var providerChangesInFlightMax: Int = 128
        /// Most releases, trunk changes, and trunk creations and deletions of one account waiting for such a slot; past
        /// it the next is refused RESOURCE_EXHAUSTED / CHANGES_BUSY, nothing done, to retry when one has ended.
        /// 0...100 000. Default 256.
        public var providerChangesWaitingPerAccountMax: Int = 256
        /// Most releases, trunk changes, and trunk creations and deletions waiting for such a slot in all, refused the
        /// same way past it. 0...1 000 000. Default 4 096.
        public var providerChangesWaitingMax: Int = 4096
        /// Most statements of one account read at once (``NumberService/statement(accountId:start:end:authorizedBy:)``: a long period
        /// of a long ledger costs CPU in proportion, and any read key may ask): the next waits its turn. 1...100.
        /// Default 1.
        public var statementsInFlightPerAccountMax: Int = 1
        /// Most statements read at once in all (numberd's cores, not its callers, bound them). 1...1000. Default 2.
        public var statementsInFlightMax: Int = 2
        /// Most statements of one account waiting for their turn; past it the next is refused RESOURCE_EXHAUSTED /
        /// STATEMENTS_BUSY. 0...10 000. Default 16.
        public var statementsWaitingPerAccountMax: Int = 16
        /// Most statements waiting in all, refused the same way past it. 0...100 000. Default 256.
        public var statementsWaitingMax: Int = 256

        /// The defaults.
        public static let defaults = Limits()
    }

    /// Billing cadence.
    public struct Billing: Sendable, Hashable {
        /// How long a past-due number is kept before it is released, seconds of numberd's uptime (``downtimes`` do
        /// not count). Default 7 days.
        public var gracePeriodSeconds: Int64 = 7 * 86_400
        /// After a grace release fails, the number's next one waits this long, doubling with each failure in a row up
        /// to ``graceReleaseRetryMaxSeconds`` (a release Twilio refuses outright — a number it holds for a reason of its
        /// own — was asked again, and withdrawn again, every billing run: two Twilio calls and two journal events a
        /// minute each, for good). Its customer paying meanwhile still renews it. 1...86 400. Default 60.
        public var graceReleaseRetrySeconds: Int64 = 60
        /// The longest wait between a number's grace releases. ≥ ``graceReleaseRetrySeconds``, ≤ 7 days. Default 1 h.
        public var graceReleaseRetryMaxSeconds: Int64 = 3_600
        /// When numberd was not running: a grace period counts only the time outside them, so a customer who could
        /// not pay while numberd was down still gets the whole period while it is up (``Downtimes``). numberd sets it
        /// at start from its data directory's record. Default none.
        public var downtimes = Downtimes()
        /// Most renewals, past-due marks and releases decided in one billing run; the run's events form one
        /// journal record, so this bounds its size (at most 2 KiB per action: 1...512 with the default 1 MiB
        /// record limit). Default 500.
        public var actionsPerRunMax: Int = 500
        /// Most cycles caught up for one number in one run (after a long outage). Default 36.
        public var cyclesPerNumberMax: Int = 36
        /// Most expired idempotency records dropped in one billing run (one journal record of at most 320 bytes
        /// each: 1...3276 with the default 1 MiB record limit). Default 2 000 (2.9 M a day at one run a minute).
        public var expiredKeysPerRunMax: Int = 2_000

        /// The defaults.
        public static let defaults = Billing()
    }

    /// Idempotency keys.
    public struct Idempotency: Sendable, Hashable {
        /// Longest key, 1...128 (``NumberServiceConfig/validate()``: the journal's record-size estimates — a billing
        /// run's expired keys, a transaction's key — assume at most 128 bytes). Default 128.
        public var keyLengthMax: Int = 128
        /// How long a key is remembered, seconds; at least 24 h. Default 24 h.
        public var ttlSeconds: Int64 = 86_400

        /// The defaults.
        public static let defaults = Idempotency()
    }

    /// In-memory caches of provider data.
    public struct Caches: Sendable, Hashable {
        /// How long a provider price is reused, seconds. Default 1 h.
        public var priceTTLSeconds: Int64 = 3_600
        /// Most cached prices. Default 256.
        public var priceEntriesMax: Int = 256
        /// How long a search result's listing (locality, region, capabilities) is trusted by a purchase without
        /// asking the provider again, seconds; an older one is checked by a search anchored at the number. Short on
        /// purpose: Twilio answers a purchase of a number its account already owns with 201 (an update of that
        /// number, twilio-api.md §8.7), so a number bought since the search — by another system on a shared account,
        /// or in Twilio's console — would be "bought" again, charged to the customer and routed to their trunk; the
        /// anchored search no longer offers it. Default 60 s (it was 1 h).
        public var listingTTLSeconds: Int64 = 60
        /// Most cached listings (the oldest makes room for a new one). Default 10 000.
        public var listingEntriesMax: Int = 10_000

        /// The defaults.
        public static let defaults = Caches()
    }

    /// Group commit.
    public struct Commits: Sendable, Hashable {
        /// Most estimated bytes of events one store commit takes from the queue (at least one decision is always
        /// taken); keeps a journal record under the journal's `recordBytesMax` (1 MiB by default). Default 512 KiB.
        public var commitBytesEstimateMax: Int = 512 * 1024
        /// After a write found no room in the store (a full disk or quota), decisions that would write are refused at
        /// once (`RESOURCE_EXHAUSTED` / `STORE_FULL`) for this long before the next one tries the disk again: each
        /// refused write rebuilds the decision state from the durable one, O(state). Each further refusal in a row
        /// doubles the pause, up to ``noRoomRetryMaxMilliseconds``; a write that goes through resets it. Reads and
        /// decisions that write nothing go on. Default 1 000 ms; 0 tries the disk with every write.
        public var noRoomRetryMilliseconds: Int = 1_000
        /// The longest pause after refusals in a row (a disk full for hours costs one rebuild of the decision state per
        /// this long, not per second). Default 30 000 ms; at least ``noRoomRetryMilliseconds``, at most 600 000.
        public var noRoomRetryMaxMilliseconds: Int = 30_000
        /// Most decided writes waiting behind the store's commit in flight (its disk has fallen behind: a slow or
        /// stalled `fdatasync`) before a call's new work — opening a purchase, requesting a release or a trunk change,
        /// adding funds, creating an account, a key or a registered trunk, an adoption's routing — is refused
        /// `RESOURCE_EXHAUSTED` / `STORE_BUSY`, nothing changed (the client retries it). What carries on work already
        /// started (a purchase's commit after its buy, a release's record, reconciliation, billing, a suspension or a
        /// key's revocation) is never refused for it, so what was started always reaches its end; it is bounded by what
        /// was admitted. Default 16 384; 1...1 000 000.
        public var queuedDecisionsMax: Int = 16_384
        /// Most estimated bytes of events those writes hold, likewise. Default 32 MiB; 64 KiB...1 GiB.
        public var queuedBytesEstimateMax: Int = 32 * 1024 * 1024

        /// The defaults.
        public static let defaults = Commits()
    }

    /// Reconciliation of purchases a crash or a lost answer left open.
    public struct Reconcile: Sendable, Hashable {
        /// An open purchase whose numbers the provider does not (all) hold is left for a later pass instead of being
        /// voided until this long after its last buy ended (after the service's start, for one opened before it:
        /// when the process before sent its last is not kept): a buy request sent just before a crash or a timeout
        /// may still be queued at the provider and land after the look-up, and voiding would leave that number paid
        /// without an owner. 0 voids at once. At most 86 400. Default 0 (numberd sets 600:
        /// `reconcile-in-flight-horizon`).
        public var inFlightHorizonSeconds: Int64 = 0
        /// How long the orphan sweep watches a number whose purchase reconciliation voided without the provider
        /// showing it (its buy may still land): each sweep looks it up and releases it at the provider if it
        /// appeared with nobody owning it. 0 turns the watch off — and with it the block on purchases of such a
        /// number while that buy may still land (another account's, or the account's own on another trunk), which
        /// the watch carries. Otherwise at least ``inFlightHorizonSeconds`` + 3600, that block's window; at most
        /// 2 592 000 (30 days). Default 86 400.
        public var orphanWatchSeconds: Int64 = 86_400
        /// Watched numbers one sweep looks up at most (in turn by number, from where the last sweep stopped; the rest
        /// wait for the next sweep), so a burst of voided purchases cannot turn a sweep into thousands of provider
        /// calls. 1...10 000. Default 200.
        public var orphanLookUpsPerSweep = 200
        /// Open purchases and pending releases one reconciliation pass takes on at most (half of them for purchases
        /// while releases wait; each kind in order from where the previous pass stopped); the rest wait for the next
        /// pass, so neither the claim under the decision lock nor the pass's provider calls grow with a backlog (a
        /// provider outage during a mass release). A purchase holds up to `purchaseNumbersMax` numbers, each looked
        /// up. Open trunk changes (``OwnedNumber/routeRequest``) are capped apart, at as many again, each one look-up.
        /// 1...10 000. Default 200.
        public var itemsPerPassMax = 200
        /// Provider failures in a row (no answer, a timeout, an unavailable provider) after which a background pass —
        /// reconciliation's purchases, its releases and its trunk changes each on their own, the orphan sweep, a
        /// billing run's grace releases — stops asking the provider; what is left waits for the next pass. A provider
        /// outage then costs a pass this many timeouts (a reconciliation pass three times this many) instead of one per
        /// item (at up to a minute each with the adapter's retries: hours for a full pass, with later billing runs'
        /// renewals waiting behind it). A pass also stops taking new items once numberd is stopping. 1...1000.
        /// Default 3.
        public var providerFailuresPerPassMax = 3

        /// The defaults.
        public static let defaults = Reconcile()
    }

    /// The provider audit (``NumberService/auditProvider(recheckAfter:)``).
    public struct Audit: Sendable, Hashable {
        /// Numbers one listing of the provider account may hold; a larger account fails the audit (the listing and
        /// the set of numbers seen are bounded by it). 1...10 000 000. Default 2 000 000.
        public var numbersMax = 2_000_000
        /// Pages one listing may take (a provider paging in circles fails the audit). 1...100 000. Default 10 000.
        public var pagesMax = 10_000
        /// Differences of each kind a report lists (every one is counted), so that many of one kind crowd no other
        /// out. 1...1 000: every kind at its most (8 000 differences, about 1 MiB) still fits one 4 MiB answer.
        /// Default 100.
        public var differencesListedMax = 100
        /// How long a release may stay requested and not done (Twilio refusing its DELETE) before the audit reports it
        /// `release_stuck`, seconds; likewise a past-due number past its grace period by this much (`release_stuck`),
        /// and a purchase open this long (`purchase_stuck`). 1...2 592 000. Default 86 400 (a day: numberd's
        /// reconciliation, every minute, will have tried it about 1 440 times).
        public var releasePendingMaxSeconds: Int64 = 86_400

        /// The defaults.
        public static let defaults = Audit()
    }

    /// Caller limits.
    public var limits: Limits
    /// Group commit.
    public var commits: Commits = .defaults
    /// Reconciliation.
    public var reconcile: Reconcile = .defaults
    /// The provider audit.
    public var audit: Audit = .defaults
    /// Billing cadence.
    public var billing: Billing
    /// Idempotency keys.
    public var idempotency: Idempotency
    /// Provider data caches.
    public var caches: Caches
    /// Our prices.
    public var pricing: PricingPolicy

    /// The defaults.
    public static let defaults = NumberServiceConfig(
        limits: .defaults, billing: .defaults, idempotency: .defaults, caches: .defaults, pricing: .defaults)

    /// Creates a configuration.
    public init(limits: Limits, billing: Billing, idempotency: Idempotency, caches: Caches, pricing: PricingPolicy) {
        self.limits = limits
        self.billing = billing
        self.idempotency = idempotency
        self.caches = caches
        self.pricing = pricing
    }

    /// Problems with the configuration; empty when it is usable.
    public func validate() -> [String] {
        var problems: [String] = []
        if idempotency.ttlSeconds < 86_400 { problems.append("idempotency.ttlSeconds must be at least 86400") }
        if !(1...128).contains(idempotency.keyLengthMax) {
            problems.append("idempotency.keyLengthMax must be in 1...128")
        }
        if limits.revokedApiKeysKeptMax < 0 { problems.append("limits.revokedApiKeysKeptMax must not be negative") }
        if commits.commitBytesEstimateMax < 1 { problems.append("commits.commitBytesEstimateMax must be positive") }
        if !(0...60_000).contains(commits.noRoomRetryMilliseconds) {
            problems.append("commits.noRoomRetryMilliseconds must be in 0...60000")
        }
        if !(1...1_000_000).contains(commits.queuedDecisionsMax) {
            problems.append("commits.queuedDecisionsMax must be in 1...1000000")
        }
        if !(65_536...(1 << 30)).contains(commits.queuedBytesEstimateMax) {
            problems.append("commits.queuedBytesEstimateMax must be in 65536...1073741824")
        }
        if !(commits.noRoomRetryMilliseconds...600_000).contains(commits.noRoomRetryMaxMilliseconds) {
            problems.append("commits.noRoomRetryMaxMilliseconds must be in noRoomRetryMilliseconds...600000")
        }
        if !(0...86_400).contains(reconcile.inFlightHorizonSeconds) {
            problems.append("reconcile.inFlightHorizonSeconds must be in 0...86400")
        }
        if !(0...2_592_000).contains(reconcile.orphanWatchSeconds) {
            problems.append("reconcile.orphanWatchSeconds must be in 0...2592000")
        }
        // The watch of a voided purchase is what keeps purchases of its number off while its buy may still land
        // (`NumberService.lateBuySeconds`): one that ended sooner would let them through.
        let horizon = min(max(reconcile.inFlightHorizonSeconds, 0), 86_400)  // out of range: refused above
        let lateBuySeconds = NumberService.lateBuySeconds(horizon: horizon)
        if reconcile.orphanWatchSeconds > 0 && reconcile.orphanWatchSeconds < lateBuySeconds {
            problems.append(
                "reconcile.orphanWatchSeconds must be 0 (off) or at least inFlightHorizonSeconds + "
                    + "\(NumberService.orphanCreationSlackSeconds) (\(lateBuySeconds)): a voided purchase's watch "
                    + "keeps purchases of its number off while its buy may still land")
        }
        if !(1...10_000).contains(reconcile.orphanLookUpsPerSweep) {
            problems.append("reconcile.orphanLookUpsPerSweep must be in 1...10000")
        }
        if !(1...1000).contains(reconcile.providerFailuresPerPassMax) {
            problems.append("reconcile.providerFailuresPerPassMax must be in 1...1000")
        }
        if !(1...10_000).contains(reconcile.itemsPerPassMax) {
            problems.append("reconcile.itemsPerPassMax must be in 1...10000")
        }
        if !(1...10_000_000).contains(audit.numbersMax) || !(1...100_000).contains(audit.pagesMax)
            || !(1...1_000).contains(audit.differencesListedMax)
        {
            problems.append("audit: numbersMax 1...10000000, pagesMax 1...100000, differencesListedMax 1...1000")
        }
        if !(1...2_592_000).contains(audit.releasePendingMaxSeconds) {
            problems.append("audit.releasePendingMaxSeconds must be in 1...2592000")
        }
        if limits.pageSizeDefault < 1 || limits.pageSizeDefault > limits.pageSizeMax {
            problems.append("limits.pageSizeDefault must be in 1...pageSizeMax")
        }
        if limits.purchaseNumbersMax < 1 { problems.append("limits.purchaseNumbersMax must be positive") }
        // Amounts: every sum the service makes stays within Int64 (a purchase charges at most purchaseNumbersMax ×
        // (setup + month) ≤ 2 × feeMax each; a balance takes one more credit of at most fundsAmountMax).
        if limits.fundsAmountMax < 1 || limits.balanceMax < 1 || limits.balanceMax > Int64.max - limits.fundsAmountMax {
            problems.append("limits.fundsAmountMax and balanceMax must be positive, their sum within Int64")
        }
        let pricing = self.pricing
        if pricing.feeMax < 1 || pricing.feeMax > Int64.max / 2 / Int64(max(limits.purchaseNumbersMax, 1)) {
            problems.append("pricing.feeMax must be positive and at most Int64.max / (2 × purchaseNumbersMax)")
        }
        // An account's monthly cost (ListNumbers, a trunk's) sums the fees of up to numbersPerAccountMax numbers.
        if limits.numbersPerAccountMax < 1
            || pricing.feeMax > Int64.max / 2 / Int64(max(limits.numbersPerAccountMax, 1))
        {
            problems.append("limits.numbersPerAccountMax must be positive, pricing.feeMax at most Int64.max / (2 × it)")
        }
        if !(0...10_000).contains(pricing.markupPercent) || pricing.minimumMonthlyFee < 0
            || !(0...6).contains(pricing.defaultMinorUnitExponent)
            || pricing.minorUnitExponents.values.contains(where: { !(0...6).contains($0) })
            || ([pricing.defaultSetupFee] + Array(pricing.setupFees.values)).contains(where: {
                $0 < 0 || $0 > pricing.feeMax
            })
        {
            problems.append(
                "pricing: markupPercent 0...10000, minimumMonthlyFee ≥ 0, minor unit exponents 0...6, setup fees 0...feeMax"
            )
        }
        // Every monthly fee is at least the minimum, and one over feeMax is refused: each quote would fail
        // PROVIDER_PRICE_INVALID, blaming Twilio for a setting.
        if pricing.minimumMonthlyFee > pricing.feeMax {
            problems.append("pricing.minimumMonthlyFee must be at most feeMax: every price would be refused")
        }
        // Clients, the CLI and messages read amounts with the ISO 4217 digits (`PricingPolicy.iso4217MinorUnits`, the
        // table `NumberAPI.CurrencyMinorUnits` is): a fee computed with other digits would be charged and shown a
        // factor of ten or more off. Entries for codes the table lacks pass: no account holds one, so none is charged.
        let misread = PricingPolicy.iso4217MinorUnits.filter {
            (pricing.minorUnitExponents[$0.key] ?? pricing.defaultMinorUnitExponent) != $0.value
        }.keys.sorted()
        if !misread.isEmpty {
            var named = misread.prefix(5).joined(separator: ", ")
            if misread.count > 5 { named += " and \(misread.count - 5) more" }
            problems.append(
                "pricing.minorUnitExponents and defaultMinorUnitExponent must give each ISO 4217 currency its own "
                    + "digits (PricingPolicy.iso4217MinorUnits), which clients read amounts with: not so for \(named)")
        }
        if limits.searchResultsMax < 1 { problems.append("limits.searchResultsMax must be positive") }
        if !(1...max(1, limits.searchResultsMax)).contains(limits.searchResultsDefault) {
            problems.append("limits.searchResultsDefault must be in 1...limits.searchResultsMax")
        }
        if !(1...1000).contains(limits.searchesInFlightPerAccountMax) {
            problems.append("limits.searchesInFlightPerAccountMax must be in 1...1000")
        }
        if !(1...100_000).contains(limits.searchesInFlightMax) {
            problems.append("limits.searchesInFlightMax must be in 1...100000")
        }
        if !(1...1000).contains(limits.providerTrunksPerAccountMax) {
            problems.append("limits.providerTrunksPerAccountMax must be in 1...1000")
        }
        if !(1...100_000).contains(limits.providerTrunksMax) {
            problems.append("limits.providerTrunksMax must be in 1...100000")
        }
        if !(1...1000).contains(limits.purchaseChecksInFlightPerAccountMax) {
            problems.append("limits.purchaseChecksInFlightPerAccountMax must be in 1...1000")
        }
        if !(1...100_000).contains(limits.purchaseChecksInFlightMax) {
            problems.append("limits.purchaseChecksInFlightMax must be in 1...100000")
        }
        if !(0...100_000).contains(limits.purchaseChecksWaitingPerAccountMax) {
            problems.append("limits.purchaseChecksWaitingPerAccountMax must be in 0...100000")
        }
        if !(0...1_000_000).contains(limits.purchaseChecksWaitingMax) {
            problems.append("limits.purchaseChecksWaitingMax must be in 0...1000000")
        }
        if !(1...1000).contains(limits.providerChangesInFlightPerAccountMax) {
            problems.append("limits.providerChangesInFlightPerAccountMax must be in 1...1000")
        }
        if !(1...100_000).contains(limits.providerChangesInFlightMax) {
            problems.append("limits.providerChangesInFlightMax must be in 1...100000")
        }
        if !(0...100_000).contains(limits.providerChangesWaitingPerAccountMax) {
            problems.append("limits.providerChangesWaitingPerAccountMax must be in 0...100000")
        }
        if !(0...1_000_000).contains(limits.providerChangesWaitingMax) {
            problems.append("limits.providerChangesWaitingMax must be in 0...1000000")
        }
        if !(1...100).contains(limits.statementsInFlightPerAccountMax) {
            problems.append("limits.statementsInFlightPerAccountMax must be in 1...100")
        }
        if !(1...1000).contains(limits.statementsInFlightMax) {
            problems.append("limits.statementsInFlightMax must be in 1...1000")
        }
        if !(0...10_000).contains(limits.statementsWaitingPerAccountMax) {
            problems.append("limits.statementsWaitingPerAccountMax must be in 0...10000")
        }
        if !(0...100_000).contains(limits.statementsWaitingMax) {
            problems.append("limits.statementsWaitingMax must be in 0...100000")
        }
        // The journal's size estimates take text at these lengths at most (`CoreEvent.bytesEstimate`): a longer one
        // could make a group commit larger than a journal record, which stops every write.
        if !(1...64).contains(limits.providerTextLengthMax) {
            problems.append("limits.providerTextLengthMax must be in 1...64")
        }
        if !(1...200).contains(limits.nameLengthMax) { problems.append("limits.nameLengthMax must be in 1...200") }
        if !(1...64).contains(limits.providerSidLengthMax) {
            problems.append("limits.providerSidLengthMax must be in 1...64")
        }
        if !(1...500).contains(limits.descriptionLengthMax) {
            problems.append("limits.descriptionLengthMax must be in 1...500")
        }
        if caches.listingEntriesMax < 1 || caches.priceEntriesMax < 1 {
            problems.append("caches.listingEntriesMax and caches.priceEntriesMax must be positive")
        }
        if billing.gracePeriodSeconds < 0 { problems.append("billing.gracePeriodSeconds must not be negative") }
        if !(1...86_400).contains(billing.graceReleaseRetrySeconds)
            || !(billing.graceReleaseRetrySeconds...(7 * 86_400)).contains(billing.graceReleaseRetryMaxSeconds)
        {
            problems.append(
                "billing.graceReleaseRetrySeconds must be in 1...86400, graceReleaseRetryMaxSeconds in it...604800")
        }
        // A billing run's decisions must each fit one journal record, or the store refuses it and stops every write.
        let record = JournalOptions.defaults.limits.recordBytesMax
        let actionsMax = record / CoreEvent.billingActionBytesEstimate
        if !(1...actionsMax).contains(billing.actionsPerRunMax) {
            problems.append("billing.actionsPerRunMax must be in 1...\(actionsMax)")
        }
        let purchaseMax = CoreEvent.purchaseNumbersMax(recordBytesMax: record)
        if limits.purchaseNumbersMax > purchaseMax {
            problems.append("limits.purchaseNumbersMax must be at most \(purchaseMax) (a purchase's record)")
        }
        let keysMax = (record - CoreEvent.expiredKeysEventBytesEstimate) / CoreEvent.expiredKeyBytesEstimate
        if !(1...keysMax).contains(billing.expiredKeysPerRunMax) {
            problems.append("billing.expiredKeysPerRunMax must be in 1...\(keysMax)")
        }
        if billing.cyclesPerNumberMax < 1 { problems.append("billing.cyclesPerNumberMax must be positive") }
        if pricing.markupPercent < 0 || pricing.minimumMonthlyFee < 0 || pricing.defaultSetupFee < 0 {
            problems.append("pricing values must not be negative")
        }
        return problems
    }
}
