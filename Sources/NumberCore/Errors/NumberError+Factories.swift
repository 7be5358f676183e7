extension NumberError {
    /// A malformed or out-of-range field.
    static func invalid(_ field: String, _ message: String) -> NumberError {
        NumberError(.invalidArgument, .invalidField, message, details: ["field": field])
    }

    /// A size or count limit was exceeded.
    static func limit(_ field: String, max: Int, _ message: String) -> NumberError {
        NumberError(.invalidArgument, .limitExceeded, message, details: ["field": field, "max": String(max)])
    }

    /// The available balance does not cover `required`.
    static func insufficientBalance(required: Int64, available: Int64, currency: String) -> NumberError {
        NumberError(
            .failedPrecondition, .insufficientBalance,
            "insufficient balance: \(PricingPolicy.display(required, currency)) required, "
                + "\(PricingPolicy.display(available, currency)) available",
            details: [
                "required": String(required), "available": String(available),
                "shortfall": String(required - available), "currency": currency,
            ])
    }

    /// The current price is above a limit the caller set: the message names each fee over its limit, the details
    /// carry the current price (`setupFee`, `monthlyFee`, `currency`) and the limits given, so a caller can show the
    /// new price and buy at it if it agrees.
    static func priceChanged(
        _ price: PricingPolicy.Quote, maxMonthlyFee: Int64?, maxSetupFee: Int64?
    ) -> NumberError {
        let fees = [
            ("monthly fee", price.monthlyFee, maxMonthlyFee, "maxMonthlyFee"),
            ("setup fee", price.setupFee, maxSetupFee, "maxSetupFee"),
        ]
        let over = fees.compactMap { fee, current, limit, field -> String? in
            guard let limit, current > limit else { return nil }
            let (now, most) = (
                PricingPolicy.display(current, price.currency), PricingPolicy.display(limit, price.currency)
            )
            return "the \(fee) is \(now) per number, above the limit of \(most) (\(field))"
        }
        var details = [
            "setupFee": String(price.setupFee), "monthlyFee": String(price.monthlyFee), "currency": price.currency,
        ]
        if let maxMonthlyFee { details["maxMonthlyFee"] = String(maxMonthlyFee) }
        if let maxSetupFee { details["maxSetupFee"] = String(maxSetupFee) }
        return NumberError(
            .failedPrecondition, .priceChanged, over.joined(separator: "; "), details: details)
    }

    /// A bug or broken invariant: INTERNAL, with a message that says no more. What went wrong (`detail`: ids, sums,
    /// another error's words) is the operator's, logged with the call's request id, which the caller gets to quote.
    static func internalFailure(_ detail: String) -> NumberError {
        NumberError(.internal, .internal, "internal error", internalDetail: detail)
    }

    /// A secret that matches no active key, or a key revoked while its call ran.
    static let invalidCredentials = NumberError(.unauthenticated, .invalidCredentials, "invalid or revoked API key")

    /// Another call drives the number's release right now (try again when it is done).
    static func releaseInProgress(_ numberId: String) -> NumberError {
        NumberError(
            .aborted, .numberNotActive, "a release of \(numberId) is in progress", details: ["numberId": numberId])
    }

    /// Another call is changing the number's trunk at the provider right now (try again when it is recorded).
    static func trunkChangeInProgress(_ numberId: String) -> NumberError {
        NumberError(
            .aborted, .numberNotActive, "a trunk change of \(numberId) is in progress", details: ["numberId": numberId])
    }

    /// The account does not exist.
    static func accountNotFound(_ id: String) -> NumberError {
        NumberError(.notFound, .accountNotFound, "account \(id) not found", details: ["accountId": id])
    }

    /// The number does not exist or belongs to another account (indistinguishable on purpose).
    static func numberNotFound(_ id: String) -> NumberError {
        NumberError(.notFound, .numberNotFound, "number \(id) not found", details: ["numberId": id])
    }

    /// The trunk does not exist or belongs to another account.
    static func trunkNotFound(_ id: String) -> NumberError {
        NumberError(.notFound, .trunkNotFound, "trunk \(id) not found", details: ["trunkId": id])
    }

    /// The number cannot be bought.
    static func numberUnavailable(_ phoneNumber: String, _ why: String) -> NumberError {
        NumberError(
            .failedPrecondition, .numberUnavailable, "\(phoneNumber) is not available: \(why)",
            details: ["phoneNumber": phoneNumber])
    }

    /// The request's currency is not the account's.
    static func currencyMismatch(expected: String, got: String) -> NumberError {
        NumberError(
            .failedPrecondition, .currencyMismatch, "the account's currency is \(expected), not \(got)",
            details: ["expected": expected, "got": got])
    }

    /// The provider prices numbers in `price`, not in the account's `account` currency. No retry or other number
    /// helps: the account was made in a currency numberd's Twilio account is not billed in, so the message says so
    /// (it used to read as if the request had named the wrong currency). Reason and details are those of
    /// ``currencyMismatch(expected:got:)``.
    static func priceCurrencyMismatch(account: String, price: String) -> NumberError {
        NumberError(
            .failedPrecondition, .currencyMismatch,
            "Twilio prices these numbers in \(price); this account holds \(account) and can buy none of them: an "
                + "account's currency must be the one numberd's Twilio account is billed in",
            details: ["expected": account, "got": price])
    }

    /// The number was released already.
    /// The number is released. The details say when and which refund went with it, so a caller retrying a release
    /// whose answer it lost learns the outcome from the refusal (releases take no idempotency key).
    static func alreadyReleased(_ number: OwnedNumber) -> NumberError {
        var details = ["numberId": number.id]
        if let at = number.releasedAt { details["releasedAt"] = at.iso8601Milliseconds }
        if let refund = number.refundTransactionId { details["refundTransactionId"] = refund }
        return NumberError(
            .failedPrecondition, .alreadyReleased, "number \(number.id) is already released", details: details)
    }

    /// A request sent as a retry of its key's purchase (``PurchaseRequest/replayOnly``) found the key's record gone.
    static func idempotencyKeyGone(_ key: String?) -> NumberError {
        NumberError(
            .aborted, .idempotencyKeyGone,
            "the idempotency key no longer stands for a purchase (expired or failed); nothing was done",
            details: ["idempotencyKey": key ?? ""])
    }

    /// The same idempotency key was used with other parameters. The details say what the key's first request did
    /// (`operation`, and `transactionId`, `numberIds`, `intentId` or `numberId`): a caller who reran a call whose
    /// outcome was unknown with a reworded description was told only "other parameters", and took a new key for a
    /// credit that had been made already.
    static func idempotencyKeyReused(_ key: String, record: IdempotencyRecord) -> NumberError {
        var details = ["idempotencyKey": key, "operation": record.operation.rawValue]
        let done: String
        switch record.outcome {
        case .pending(let intentId):
            details["intentId"] = intentId
            done = "a purchase still in progress (\(intentId))"
        case .purchased(let numberIds, _):
            details["numberIds"] = numberIds.joined(separator: ",")
            // An adoption is recorded as a purchase (one intent opened and committed at once): "purchase" alone
            // misnamed a key reused after an adoption.
            done = "a purchase or adoption of \(numberIds.joined(separator: ", "))"
        case .fundsAdded(let transactionId), .adjusted(let transactionId):
            details["transactionId"] = transactionId
            done = "transaction \(transactionId)"
        case .releaseRequested(let numberId, _):
            details["numberId"] = numberId
            done = "the release of \(numberId)"
        }
        return NumberError(
            .failedPrecondition, .idempotencyKeyReused,
            "idempotency key was already used with other parameters, for \(done): nothing was done now; check that "
                + "first request before sending this one under a new key",
            details: details)
    }

    /// The first request with this key is still running.
    static func requestInProgress(_ key: String) -> NumberError {
        NumberError(
            .aborted, .requestInProgress, "a request with this idempotency key is still in progress",
            details: ["idempotencyKey": key])
    }

    /// An adoption of `phoneNumber` is still running (`running` names it): nothing was done now. The in-progress answer
    /// of an adoption made without the first one's idempotency key, as a purchase's under its key — not `NUMBER_UNAVAILABLE`,
    /// whose "this account owns it already" tells a repeat after a lost answer that its adoption was done, while the
    /// one running may yet fail.
    static func adoptionInProgress(_ phoneNumber: String, _ running: String) -> NumberError {
        NumberError(
            .aborted, .requestInProgress,
            "\(running) is still in progress: nothing was done now; run this again once it has ended (a number it gave "
                + "this account is then refused \"this account owns it already\")",
            details: ["phoneNumber": phoneNumber])
    }

    /// The provider's price for `country`/`type` is unusable (`detail` says how).
    static func providerPriceInvalid(_ cost: ProviderPrice, _ detail: String) -> NumberError {
        NumberError(
            .unavailable, .providerPriceInvalid,
            "the provider's price for \(cost.country) \(cost.type.rawValue) numbers is unusable: \(detail)",
            details: ["country": cost.country, "type": cost.type.rawValue])
    }

    /// An amount computation would overflow `Int64`.
    static func overflow(_ what: String) -> NumberError {
        NumberError(.invalidArgument, .amountOverflow, "\(what) is out of range")
    }

    /// A page token that does not decode or belongs to another query.
    static func invalidPageToken() -> NumberError {
        NumberError(
            .invalidArgument, .invalidPageToken, "page token is malformed or belongs to another query",
            details: ["field": "page_token"])
    }

    /// A page token longer than any numberd makes: refused before it is decoded. Still `INVALID_PAGE_TOKEN` (start
    /// the listing over), but its message and `max` say which check refused it.
    static func pageTokenTooLong(max: Int) -> NumberError {
        NumberError(
            .invalidArgument, .invalidPageToken, "page token is longer than \(max) bytes",
            details: ["field": "page_token", "max": String(max)])
    }

    /// The store failed; nothing more is written until a restart. The cause (a file and `errno`) is for the
    /// operator's log only.
    static func storeFailed(_ underlying: any Error) -> NumberError {
        NumberError(
            .unavailable, .storeFailed, "the store failed; the service stopped accepting writes",
            internalDetail: "\(underlying)")
    }

    /// The store had no room for the write (a full disk or quota): nothing was written and nothing was changed; reads
    /// go on and writes resume once there is room. No internal detail: the journal logs the file system's error once
    /// when writes start finding no room, and a detail here would be logged with every refused call (a flood, while
    /// the disk the log may be on is full).
    static let storeFull = NumberError(
        .resourceExhausted, .storeFull,
        "the service's store has no room to write (disk or quota full): nothing was changed; retry later")

    /// Too many decided writes wait behind the store's commit in flight (its disk has fallen behind): a caller's new
    /// work is refused, nothing changed, and its retry is taken once the queue has drained below the limits.
    static func storeBusy(queued: Int, max: Int) -> NumberError {
        NumberError(
            .resourceExhausted, .storeBusy,
            "the service's store is behind: \(queued) writes wait for its disk; nothing was changed; retry shortly",
            details: ["max": String(max)])
    }

    /// `text` with each Twilio SID in it — two capital letters and 32 lower-case hex digits standing alone, as `AC…`
    /// for an account or `AD…` for an address — cut to its two letters and "…".
    static func withoutTwilioSids(_ text: String) -> String {
        text.replacing(/\b([A-Z]{2})[0-9a-f]{32}\b/) { match in match.output.1 + "…" }
    }

    /// Maps a provider failure to a core error. What the provider said about the request itself (a number sold, a
    /// parameter refused) is the caller's to read; the rest — a resource path with numberd's account SID, a
    /// credentials hint, libcurl's words about a proxy or a TLS problem — goes to `internalDetail`, for the
    /// operator's log, behind a message of its own.
    ///
    /// A request its caller's cancellation ended is `CANCELLED` with no internal detail, as a `CancellationError` is
    /// (``fromProvider(_:phoneNumber:offering:)``): the provider did not fail, so the server logs no "provider unavailable"
    /// warning for a caller that went away. An unknown outcome stays one: the request may have been made.
    ///
    /// With `offering` — the call asked about the numbers of one type in one country (a search, a price: for a search,
    /// a purchase or an adoption) — a `.notFound` is NOT_FOUND / NOT_OFFERED, with `country` and `type`: the provider
    /// sells none of them (no price listed, or Twilio's 404 for a type it does not sell in the country), which is no
    /// number's absence.
    static func provider(
        _ error: ProviderError, phoneNumber: String? = nil, offering: Offering? = nil
    ) -> NumberError {
        if error.cancelled && error.kind != .outcomeUnknown {
            return NumberError(.cancelled, .providerUnavailable, "cancelled")
        }
        var details: [String: String] = ["providerKind": error.kind.rawValue]
        if let code = error.providerCode { details["providerCode"] = String(code) }
        if let phoneNumber { details["phoneNumber"] = phoneNumber }
        if let offering, error.kind == .notFound {
            details["country"] = offering.country
            details["type"] = offering.type.rawValue
            // The adapter's own words ("Twilio lists no monthly price for …") say why; Twilio's 404 names its path,
            // numberd's account SID in it: logged only.
            let kind = offering.type.rawValue.replacingOccurrences(of: "_", with: "-")
            let why =
                error.providerCode == nil
                ? error.message + ": numberd cannot sell them"
                : "the provider sells no \(kind) numbers in \(offering.country)"
            return NumberError(
                .notFound, .notOffered, why, details: details,
                internalDetail: error.providerCode == nil ? nil : error.message)
        }
        func withheld(_ code: Code, _ reason: Reason, _ message: String) -> NumberError {
            NumberError(code, reason, message, details: details, internalDetail: error.message)
        }
        // Twilio's words about the request reach the caller, less any Twilio SID in them (a review: 21631's "Could not
        // find Address with sid AD… for account AC…" named numberd's account); the operator's log keeps them whole.
        let told = withoutTwilioSids(error.message)
        let kept = told == error.message ? nil : error.message
        switch error.kind {
        case .numberUnavailable:
            return NumberError(.failedPrecondition, .numberUnavailable, told, details: details, internalDetail: kept)
        case .invalidArgument:
            return NumberError(.invalidArgument, .invalidField, told, details: details, internalDetail: kept)
        case .notFound where error.providerCode == nil:
            // The adapter's or a provider's own words (no path, no SID): nothing to hide.
            return NumberError(.notFound, .numberNotFound, error.message, details: details)
        case .notFound:
            // Twilio's 404 text names the resource's path, numberd's account SID in it. What is left to reach here: a
            // change of a number (its route, its release) Twilio no longer has.
            return withheld(.notFound, .numberNotFound, "the provider does not have the number (or trunk) named")
        case .authentication, .misconfigured:
            return withheld(
                .unavailable, .providerMisconfigured,
                "numberd's provider account is misconfigured; the operator must fix it")
        case .rateLimited:
            return withheld(
                .unavailable, .providerRateLimited, "the provider is limiting numberd's requests; retry later")
        case .unavailable:
            return withheld(.unavailable, .providerUnavailable, "the provider is unavailable; retry later")
        case .outcomeUnknown:
            return withheld(
                .unavailable, .outcomeUnknown, "the provider's answer was lost: the outcome is unknown until reconciled"
            )
        }
    }

    /// The numbers of one type in one country, which a search or a price asks the provider about.
    struct Offering {
        var country: String
        var type: NumberType
    }

    /// Maps any error thrown by a provider call (`offering`: as for ``provider(_:phoneNumber:offering:)``).
    static func fromProvider(
        _ error: any Error, phoneNumber: String? = nil, offering: Offering? = nil
    ) -> NumberError {
        if let error = error as? ProviderError {
            return provider(error, phoneNumber: phoneNumber, offering: offering)
        }
        if let error = error as? NumberError { return error }
        if error is CancellationError { return NumberError(.cancelled, .providerUnavailable, "cancelled") }
        return NumberError(
            .unavailable, .providerUnavailable, "the provider is unavailable; retry later", internalDetail: "\(error)")
    }
}
